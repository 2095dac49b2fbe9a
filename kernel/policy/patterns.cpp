#include "policy/patterns.hpp"

#include <cctype>
#include <cstddef>
#include <cstring>

#include "policy/sandbox_meter.hpp"

// This file keeps lstrlib.c's structure and names so it can be compared with the original. Only
// plain C data lives on its frames: Lua errors unwind through them.
namespace x402::policy::detail {
namespace {

constexpr char kEscape = '%';
constexpr const char* kSpecials = "^$*+?.([%-";
constexpr int kMaxCaptures = 32;
constexpr int kMaxMatchDepth = 200;
constexpr ptrdiff_t kCapUnfinished = -1;
constexpr ptrdiff_t kCapPosition = -2;
constexpr uint64_t kStepsPerCharge = 1024;

struct MatchState {
  const char* src_init;
  const char* src_end;
  const char* p_end;
  lua_State* L;
  int matchdepth;
  int level;
  uint64_t steps;
  struct {
    const char* init;
    ptrdiff_t len;
  } capture[kMaxCaptures];
};

inline int uchar(char c) {
  return static_cast<unsigned char>(c);
}

void step(MatchState* ms) {
  if (++ms->steps % kStepsPerCharge == 0) charge_instructions(ms->L, kStepsPerCharge);
}

const char* match(MatchState* ms, const char* s, const char* p);

int check_capture(MatchState* ms, int l) {
  l -= '1';
  if (l < 0 || l >= ms->level || ms->capture[l].len == kCapUnfinished) {
    return luaL_error(ms->L, "invalid capture index %%%d", l + 1);
  }
  return l;
}

int capture_to_close(MatchState* ms) {
  int level = ms->level;
  for (level--; level >= 0; level--) {
    if (ms->capture[level].len == kCapUnfinished) return level;
  }
  return luaL_error(ms->L, "invalid pattern capture");
}

const char* class_end(MatchState* ms, const char* p) {
  switch (*p++) {
    case kEscape: {
      if (p == ms->p_end) luaL_error(ms->L, "malformed pattern (ends with '%%')");
      return p + 1;
    }
    case '[': {
      if (*p == '^') p++;
      do {
        if (p == ms->p_end) luaL_error(ms->L, "malformed pattern (missing ']')");
        if (*(p++) == kEscape && p < ms->p_end) p++;
      } while (*p != ']');
      return p + 1;
    }
    default:
      return p;
  }
}

int match_class(int c, int cl) {
  int res;
  switch (std::tolower(cl)) {
    case 'a':
      res = std::isalpha(c);
      break;
    case 'c':
      res = std::iscntrl(c);
      break;
    case 'd':
      res = std::isdigit(c);
      break;
    case 'g':
      res = std::isgraph(c);
      break;
    case 'l':
      res = std::islower(c);
      break;
    case 'p':
      res = std::ispunct(c);
      break;
    case 's':
      res = std::isspace(c);
      break;
    case 'u':
      res = std::isupper(c);
      break;
    case 'w':
      res = std::isalnum(c);
      break;
    case 'x':
      res = std::isxdigit(c);
      break;
    case 'z':
      res = (c == 0);
      break;
    default:
      return (cl == c);
  }
  return std::islower(cl) ? res : !res;
}

int match_bracket_class(int c, const char* p, const char* ec) {
  int sig = 1;
  if (*(p + 1) == '^') {
    sig = 0;
    p++;
  }
  while (++p < ec) {
    if (*p == kEscape) {
      p++;
      if (match_class(c, uchar(*p))) return sig;
    } else if (*(p + 1) == '-' && (p + 2 < ec)) {
      p += 2;
      if (uchar(*(p - 2)) <= c && c <= uchar(*p)) return sig;
    } else if (uchar(*p) == c) {
      return sig;
    }
  }
  return !sig;
}

int single_match(MatchState* ms, const char* s, const char* p, const char* ep) {
  if (s >= ms->src_end) return 0;
  const int c = uchar(*s);
  switch (*p) {
    case '.':
      return 1;
    case kEscape:
      return match_class(c, uchar(*(p + 1)));
    case '[':
      return match_bracket_class(c, p, ep - 1);
    default:
      return uchar(*p) == c;
  }
}

const char* match_balance(MatchState* ms, const char* s, const char* p) {
  if (p >= ms->p_end - 1) luaL_error(ms->L, "malformed pattern (missing arguments to '%%b')");
  if (s >= ms->src_end || *s != *p) return nullptr;
  const int b = *p;
  const int e = *(p + 1);
  int cont = 1;
  while (++s < ms->src_end) {
    step(ms);
    if (*s == e) {
      if (--cont == 0) return s + 1;
    } else if (*s == b) {
      cont++;
    }
  }
  return nullptr;
}

const char* max_expand(MatchState* ms, const char* s, const char* p, const char* ep) {
  ptrdiff_t i = 0;
  while (single_match(ms, s + i, p, ep)) {
    step(ms);
    i++;
  }
  while (i >= 0) {
    const char* res = match(ms, s + i, ep + 1);
    if (res) return res;
    i--;
  }
  return nullptr;
}

const char* min_expand(MatchState* ms, const char* s, const char* p, const char* ep) {
  for (;;) {
    const char* res = match(ms, s, ep + 1);
    if (res != nullptr) return res;
    if (!single_match(ms, s, p, ep)) return nullptr;
    s++;
  }
}

const char* start_capture(MatchState* ms, const char* s, const char* p, ptrdiff_t what) {
  const int level = ms->level;
  if (level >= kMaxCaptures) luaL_error(ms->L, "too many captures");
  ms->capture[level].init = s;
  ms->capture[level].len = what;
  ms->level = level + 1;
  const char* res = match(ms, s, p);
  if (res == nullptr) ms->level--;
  return res;
}

const char* end_capture(MatchState* ms, const char* s, const char* p) {
  const int l = capture_to_close(ms);
  ms->capture[l].len = s - ms->capture[l].init;
  const char* res = match(ms, s, p);
  if (res == nullptr) ms->capture[l].len = kCapUnfinished;
  return res;
}

const char* match_capture(MatchState* ms, const char* s, int l) {
  l = check_capture(ms, l);
  const size_t len = static_cast<size_t>(ms->capture[l].len);
  if (static_cast<size_t>(ms->src_end - s) >= len &&
      std::memcmp(ms->capture[l].init, s, len) == 0) {
    return s + len;
  }
  return nullptr;
}

const char* match(MatchState* ms, const char* s, const char* p) {
  if (ms->matchdepth-- == 0) luaL_error(ms->L, "pattern too complex");
  step(ms);
init:
  if (p != ms->p_end) {
    switch (*p) {
      case '(': {
        if (*(p + 1) == ')') {
          s = start_capture(ms, s, p + 2, kCapPosition);
        } else {
          s = start_capture(ms, s, p + 1, kCapUnfinished);
        }
        break;
      }
      case ')': {
        s = end_capture(ms, s, p + 1);
        break;
      }
      case '$': {
        if ((p + 1) != ms->p_end) goto dflt;
        s = (s == ms->src_end) ? s : nullptr;
        break;
      }
      case kEscape: {
        switch (*(p + 1)) {
          case 'b': {
            s = match_balance(ms, s, p + 2);
            if (s != nullptr) {
              p += 4;
              goto init;
            }
            break;
          }
          case 'f': {
            p += 2;
            if (*p != '[') luaL_error(ms->L, "missing '[' after '%%f' in pattern");
            const char* ep = class_end(ms, p);
            const char previous = (s == ms->src_init) ? '\0' : *(s - 1);
            const char current = (s < ms->src_end) ? *s : '\0';
            if (!match_bracket_class(uchar(previous), p, ep - 1) &&
                match_bracket_class(uchar(current), p, ep - 1)) {
              p = ep;
              goto init;
            }
            s = nullptr;
            break;
          }
          case '0':
          case '1':
          case '2':
          case '3':
          case '4':
          case '5':
          case '6':
          case '7':
          case '8':
          case '9': {
            s = match_capture(ms, s, uchar(*(p + 1)));
            if (s != nullptr) {
              p += 2;
              goto init;
            }
            break;
          }
          default:
            goto dflt;
        }
        break;
      }
      default:
      dflt : {
        const char* ep = class_end(ms, p);
        // Lua strings end in '\0', so *ep is readable even at p_end.
        if (!single_match(ms, s, p, ep)) {
          if (*ep == '*' || *ep == '?' || *ep == '-') {
            p = ep + 1;
            goto init;
          }
          s = nullptr;
        } else {
          switch (*ep) {
            case '?': {
              const char* res = match(ms, s + 1, ep + 1);
              if (res != nullptr) {
                s = res;
              } else {
                p = ep + 1;
                goto init;
              }
              break;
            }
            case '+':
              s = max_expand(ms, s + 1, p, ep);
              break;
            case '*':
              s = max_expand(ms, s, p, ep);
              break;
            case '-':
              s = min_expand(ms, s, p, ep);
              break;
            default:
              s++;
              p = ep;
              goto init;
          }
        }
        break;
      }
    }
  }
  ms->matchdepth++;
  return s;
}

const char* lmemfind(const char* s1, size_t l1, const char* s2, size_t l2) {
  if (l2 == 0) return s1;
  if (l2 > l1) return nullptr;
  const char* init;
  l2--;
  l1 = l1 - l2;
  while (l1 > 0 && (init = static_cast<const char*>(std::memchr(s1, *s2, l1))) != nullptr) {
    init++;
    if (std::memcmp(init, s2 + 1, l2) == 0) return init - 1;
    l1 -= init - s1;
    s1 = init;
  }
  return nullptr;
}

void push_onecapture(MatchState* ms, int i, const char* s, const char* e) {
  if (i >= ms->level) {
    if (i == 0) {
      lua_pushlstring(ms->L, s, e - s);  // the whole match
    } else {
      luaL_error(ms->L, "invalid capture index");
    }
  } else {
    const ptrdiff_t l = ms->capture[i].len;
    if (l == kCapUnfinished) luaL_error(ms->L, "unfinished capture");
    if (l == kCapPosition) {
      lua_pushinteger(ms->L, ms->capture[i].init - ms->src_init + 1);
    } else {
      lua_pushlstring(ms->L, ms->capture[i].init, l);
    }
  }
}

int push_captures(MatchState* ms, const char* s, const char* e) {
  const int nlevels = (ms->level == 0 && s) ? 1 : ms->level;
  luaL_checkstack(ms->L, nlevels, "too many captures");
  for (int i = 0; i < nlevels; i++) push_onecapture(ms, i, s, e);
  return nlevels;
}

ptrdiff_t posrelat(ptrdiff_t pos, size_t len) {
  if (pos >= 0) return pos;
  if (static_cast<size_t>(-pos) > len) return 0;
  return static_cast<ptrdiff_t>(len) + pos + 1;
}

// The caps of PolicyLimits, checked before any search starts.
void check_sizes(lua_State* L, size_t subject_len, size_t pattern_len) {
  const auto& limits = meter_of(L).limits;
  if (subject_len > limits.max_pattern_subject_bytes) {
    raise_abort(L, Abort::kStringLimit, "pattern subject exceeds the subject size limit");
  }
  if (pattern_len > limits.max_pattern_bytes) {
    raise_abort(L, Abort::kStringLimit, "pattern exceeds the pattern size limit");
  }
}

void init_state(MatchState* ms, lua_State* L, const char* s, size_t ls, const char* p, size_t lp) {
  ms->L = L;
  ms->src_init = s;
  ms->src_end = s + ls;
  ms->p_end = p + lp;
  ms->steps = 0;
}

void reset_state(MatchState* ms) {
  ms->level = 0;
  ms->matchdepth = kMaxMatchDepth;
}

int str_find_aux(lua_State* L, int find) {
  size_t ls = 0;
  size_t lp = 0;
  const char* s = luaL_checklstring(L, 1, &ls);
  const char* p = luaL_checklstring(L, 2, &lp);
  check_sizes(L, ls, lp);
  ptrdiff_t init = posrelat(luaL_optinteger(L, 3, 1), ls) - 1;
  if (init < 0) {
    init = 0;
  } else if (static_cast<size_t>(init) > ls) {
    lua_pushnil(L);
    return 1;
  }
  if (find && (lua_toboolean(L, 4) || std::strpbrk(p, kSpecials) == nullptr)) {
    const char* s2 = lmemfind(s + init, ls - init, p, lp);
    if (s2) {
      lua_pushinteger(L, s2 - s + 1);
      lua_pushinteger(L, s2 - s + lp);
      return 2;
    }
  } else {
    MatchState ms;
    const int anchor = (*p == '^');
    if (anchor) {
      p++;
      lp--;
    }
    init_state(&ms, L, s, ls, p, lp);
    const char* s1 = s + init;
    do {
      reset_state(&ms);
      const char* e = match(&ms, s1, p);
      if (e != nullptr) {
        if (find) {
          lua_pushinteger(L, s1 - s + 1);
          lua_pushinteger(L, e - s);
          return push_captures(&ms, nullptr, nullptr) + 2;
        }
        return push_captures(&ms, s1, e);
      }
    } while (s1++ < ms.src_end && !anchor);
  }
  lua_pushnil(L);
  return 1;
}

int str_find(lua_State* L) {
  return str_find_aux(L, 1);
}
int str_match(lua_State* L) {
  return str_find_aux(L, 0);
}

// Upvalues: subject, pattern, position of the next search.
int gmatch_aux(lua_State* L) {
  MatchState ms;
  size_t ls = 0;
  size_t lp = 0;
  const char* s = lua_tolstring(L, lua_upvalueindex(1), &ls);
  const char* p = lua_tolstring(L, lua_upvalueindex(2), &lp);
  init_state(&ms, L, s, ls, p, lp);
  for (const char* src = s + static_cast<size_t>(lua_tointeger(L, lua_upvalueindex(3)));
       src <= ms.src_end; src++) {
    reset_state(&ms);
    const char* e = match(&ms, src, p);
    if (e != nullptr) {
      lua_Integer newstart = e - s;
      if (e == src) newstart++;  // empty match: go at least one position
      lua_pushinteger(L, newstart);
      lua_replace(L, lua_upvalueindex(3));
      return push_captures(&ms, src, e);
    }
  }
  return 0;
}

int str_gmatch(lua_State* L) {
  size_t ls = 0;
  size_t lp = 0;
  luaL_checklstring(L, 1, &ls);
  luaL_checklstring(L, 2, &lp);
  check_sizes(L, ls, lp);
  lua_settop(L, 2);
  lua_pushinteger(L, 0);
  lua_pushcclosure(L, gmatch_aux, 3);
  return 1;
}

void add_s(MatchState* ms, luaL_Buffer* b, const char* s, const char* e) {
  size_t l = 0;
  const char* news = lua_tolstring(ms->L, 3, &l);
  for (size_t i = 0; i < l; i++) {
    if (news[i] != kEscape) {
      luaL_addchar(b, news[i]);
    } else {
      i++;
      if (!std::isdigit(uchar(news[i]))) {
        if (news[i] != kEscape) luaL_error(ms->L, "invalid use of '%%' in replacement string");
        luaL_addchar(b, news[i]);
      } else if (news[i] == '0') {
        luaL_addlstring(b, s, e - s);
      } else {
        push_onecapture(ms, news[i] - '1', s, e);
        luaL_addvalue(b);
      }
    }
  }
}

void add_value(MatchState* ms, luaL_Buffer* b, const char* s, const char* e) {
  lua_State* L = ms->L;
  switch (lua_type(L, 3)) {
    case LUA_TNUMBER:
    case LUA_TSTRING: {
      add_s(ms, b, s, e);
      return;
    }
    case LUA_TFUNCTION: {
      lua_pushvalue(L, 3);
      const int n = push_captures(ms, s, e);
      lua_call(L, n, 1);
      break;
    }
    case LUA_TTABLE: {
      push_onecapture(ms, 0, s, e);
      lua_gettable(L, 3);
      break;
    }
    default:
      break;
  }
  if (!lua_toboolean(L, -1)) {  // nil or false: keep the original text
    lua_pop(L, 1);
    lua_pushlstring(L, s, e - s);
  } else if (!lua_isstring(L, -1)) {
    luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
  }
  luaL_addvalue(b);
}

int str_gsub(lua_State* L) {
  size_t srcl = 0;
  size_t lp = 0;
  const char* src = luaL_checklstring(L, 1, &srcl);
  const char* p = luaL_checklstring(L, 2, &lp);
  const int tr = lua_type(L, 3);
  const lua_Integer max_s = luaL_optinteger(L, 4, static_cast<lua_Integer>(srcl) + 1);
  luaL_argcheck(L,
                tr == LUA_TNUMBER || tr == LUA_TSTRING || tr == LUA_TFUNCTION || tr == LUA_TTABLE,
                3, "string/function/table expected");
  check_sizes(L, srcl, lp);
  const int anchor = (*p == '^');
  if (anchor) {
    p++;
    lp--;
  }
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  MatchState ms;
  init_state(&ms, L, src, srcl, p, lp);
  lua_Integer n = 0;
  while (n < max_s) {
    reset_state(&ms);
    const char* e = match(&ms, src, p);
    if (e != nullptr) {
      n++;
      add_value(&ms, &b, src, e);
    }
    if (e != nullptr && e > src) {
      src = e;
    } else if (src < ms.src_end) {
      luaL_addchar(&b, *src++);
    } else {
      break;
    }
    if (anchor) break;
  }
  luaL_addlstring(&b, src, ms.src_end - src);
  luaL_pushresult(&b);
  lua_pushinteger(L, n);
  return 2;
}

}  // namespace

void register_pattern_functions(lua_State* L) {
  lua_pushcfunction(L, str_find);
  lua_setfield(L, -2, "find");
  lua_pushcfunction(L, str_match);
  lua_setfield(L, -2, "match");
  lua_pushcfunction(L, str_gmatch);
  lua_setfield(L, -2, "gmatch");
  lua_pushcfunction(L, str_gsub);
  lua_setfield(L, -2, "gsub");
}

}  // namespace x402::policy::detail
