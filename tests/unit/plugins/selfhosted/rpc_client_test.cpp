#include "rpc_client.hpp"

#include <gtest/gtest.h>

namespace x402::plugins::selfhosted {
namespace {

TEST(SelfhostedRpc, BatchRepliesAreMatchedById) {
  RpcBatch b = parse_rpc_response(
      R"([{"jsonrpc":"2.0","id":12,"result":"0x2"},
          {"jsonrpc":"2.0","id":10,"result":"0x14a34"},
          {"jsonrpc":"2.0","id":11,"error":{"code":3,"message":"execution reverted: nope","data":"0x08c379a0"}}])",
      10, 3);
  ASSERT_TRUE(b.ok());
  ASSERT_EQ(b.replies.size(), 3u);
  EXPECT_EQ(rpc::quantity_u64(b.replies[0]), 84532u);
  ASSERT_FALSE(b.replies[1].ok());
  EXPECT_TRUE(rpc::is_revert(*b.replies[1].error));
  EXPECT_EQ(rpc::quantity_u64(b.replies[2]), 2u);
}

TEST(SelfhostedRpc, MissingRepliesAndWholeBatchErrors) {
  RpcBatch b = parse_rpc_response(R"([{"jsonrpc":"2.0","id":1,"result":"0x1"}])", 1, 2);
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(b.replies[0].ok());
  EXPECT_FALSE(b.replies[1].ok());  // never answered: an error, not a silent null

  RpcBatch whole = parse_rpc_response(
      R"({"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"batch too large"}})", 1, 2);
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(whole.replies[1].error->message, "batch too large");
  EXPECT_FALSE(rpc::is_revert(*whole.replies[1].error));
}

TEST(SelfhostedRpc, GarbageIsATransportProblem) {
  EXPECT_EQ(parse_rpc_response("<html>502</html>", 1, 1).transport, Transport::maybe_sent);
  EXPECT_EQ(parse_rpc_response("42", 1, 1).transport, Transport::maybe_sent);
}

TEST(SelfhostedRpc, RevertReasonIsDecoded) {
  // Error("FiatTokenV2: invalid signature")
  RpcError e{3, "execution reverted",
             "0x08c379a0"
             "0000000000000000000000000000000000000000000000000000000000000020"
             "000000000000000000000000000000000000000000000000000000000000001e"
             "46696174546f6b656e56323a20696e76616c6964207369676e61747572650000"};
  EXPECT_EQ(rpc::revert_reason(e), "FiatTokenV2: invalid signature");
  EXPECT_EQ(rpc::revert_reason(RpcError{-32000, "execution reverted: x", ""}),
            "execution reverted: x");
}

}  // namespace
}  // namespace x402::plugins::selfhosted
