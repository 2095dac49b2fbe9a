// Each figure of the report is the median of several runs, with min and max.
export function summarize(values) {
  const xs = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (xs.length === 0) return null;
  const mid = Math.floor(xs.length / 2);
  const median = xs.length % 2 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2;
  return { median, min: xs[0], max: xs[xs.length - 1], n: xs.length };
}

// summarize(runs.map(pick)) for every key of pickers: {key: (run) => number}.
export function summarizeRuns(runs, pickers) {
  const out = {};
  for (const [key, pick] of Object.entries(pickers)) out[key] = summarize(runs.map(pick));
  return out;
}
