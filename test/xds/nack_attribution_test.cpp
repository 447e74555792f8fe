#include "xds/nack_attribution.hpp"

#include <gtest/gtest.h>

#include "xds/ads_server.hpp"

namespace sluice::xds {
namespace {

const std::string rds = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";
const std::string cds = "type.googleapis.com/envoy.config.cluster.v3.Cluster";

client_response answer(const std::string& node, const std::string& type, bool nack,
                       const std::string& message = "", std::vector<std::string> names = {}) {
  client_response r;
  r.node_id = node;
  r.key = "gloo-system~gateway-proxy";
  r.type_url = type;
  r.nack = nack;
  r.error_message = message;
  r.resource_names = std::move(names);
  r.nonce = std::to_string(message.size());
  return r;
}

TEST(NackBookTest, LatestAnswerPerClientAndTypeDecides) {
  nack_book book;
  EXPECT_FALSE(book.record(answer("envoy-1", rds, false))) << "an ACK of nothing changes nothing";
  EXPECT_TRUE(book.record(answer("envoy-1", rds, true, "bad route")));
  EXPECT_TRUE(book.record(answer("envoy-2", cds, true, "bad cluster", {"a_gloo-system"})));
  // The same rejection again (a new nonce) is no change.
  auto again = answer("envoy-1", rds, true, "bad route");
  again.nonce = "99";
  EXPECT_FALSE(book.record(again));
  ASSERT_EQ(book.current().size(), 2u);
  EXPECT_EQ(book.current()[0].node_id(), "envoy-1");
  EXPECT_EQ(book.current()[1].resource_names(0), "a_gloo-system");
  // An ACK of another type leaves the RDS NACK alone; an ACK of RDS clears it.
  EXPECT_FALSE(book.record(answer("envoy-1", cds, false)));
  EXPECT_TRUE(book.record(answer("envoy-1", rds, false)));
  ASSERT_EQ(book.current().size(), 1u);
  EXPECT_EQ(book.current()[0].node_id(), "envoy-2");
  EXPECT_TRUE(book.record(answer("envoy-2", cds, true, "other reason", {"a_gloo-system"})));
}

TEST(NackBookTest, ADepartedClientsNacksAreForgotten) {
  nack_book book;
  ASSERT_TRUE(book.record(answer("envoy-1", rds, true, "bad route")));
  ASSERT_TRUE(book.record(answer("envoy-1", cds, true, "bad cluster")));
  ASSERT_TRUE(book.record(answer("envoy-10", cds, true, "bad cluster")));
  ASSERT_TRUE(book.record(answer("envoy-2", cds, true, "bad cluster")));
  EXPECT_FALSE(book.forget("other~role", "envoy-1")) << "another role's client of that name";
  EXPECT_TRUE(book.forget("gloo-system~gateway-proxy", "envoy-1"));
  auto left = book.current();
  ASSERT_EQ(left.size(), 2u) << "both of envoy-1's types go, envoy-10 (a name it prefixes) stays";
  EXPECT_EQ(left[0].node_id(), "envoy-10");
  EXPECT_EQ(left[1].node_id(), "envoy-2");
  EXPECT_FALSE(book.forget("gloo-system~gateway-proxy", "envoy-1"));
}

TEST(CurrentNacksTest, LaterAckOrPublishSupersedesANack) {
  auto record = [](const std::string& node, bool nack, int64_t t) {
    sluice::v1::ClientResponseRecord r;
    r.set_role("r");
    r.set_node_id(node);
    r.set_type_url(rds);
    r.set_nack(nack);
    r.set_time_unix_ns(t);
    return r;
  };
  sluice::v1::PublishRecord publish;
  publish.set_role("r");
  publish.set_type_url(rds);
  publish.set_time_unix_ns(15);
  auto current = current_nacks(
      {record("a", true, 10), record("b", true, 10), record("b", false, 12), record("c", true, 20)},
      {publish});
  ASSERT_EQ(current.size(), 1u) << "a: published after; b: acked after";
  EXPECT_EQ(current[0].node_id(), "c");
}

}  // namespace
}  // namespace sluice::xds
