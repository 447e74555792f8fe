// Written statuses follow the rejections the world keeps as state: an object whose newest
// version was rejected stays Rejected across a restart (the source resumes its watch, so nothing
// re-delivers the rejected version), and fixing it makes it Accepted. End to end, in process,
// against test/support/fake_kube_apiserver.
#include <gtest/gtest.h>

#include "test/kubernetes/in_process_plane.hpp"

namespace sluice::test::kube {
namespace {

class StatusRestartTest : public in_process_plane {
 protected:
  StatusRestartTest() {
    fake_.apply(upstream("a", 50061));
    fake_.apply(virtual_service("greeter", "greeter", "a"));
  }

  json status(const std::string& vs) const { return status_of(fake_.get(vs_path(vs))); }

  bool state_is(const std::string& vs, const std::string& state) const {
    return status(vs).value("state", "") == state;
  }
};

TEST_F(StatusRestartTest, RejectedObjectStaysRejectedAcrossARestartUntilFixed) {
  start();
  ASSERT_TRUE(fake_kube_apiserver::eventually([&] { return state_is("greeter", "Accepted"); }))
      << status("greeter").dump();
  // An edit that fails validation (greeter keeps serving its accepted form), and an object that
  // was never valid.
  fake_.apply(virtual_service("greeter", "greeter", "a", "(unclosed"));
  fake_.apply(virtual_service("broken", "broken", "a", "(unclosed"));
  ASSERT_TRUE(fake_kube_apiserver::eventually([&] {
    return state_is("greeter", "Rejected") && state_is("broken", "Rejected");
  })) << status("greeter").dump()
      << status("broken").dump();
  const auto greeter_reason = status("greeter").value("reason", "");
  EXPECT_NE(greeter_reason.find("regex"), std::string::npos) << greeter_reason;
  EXPECT_NE(greeter_reason.find("the last accepted form"), std::string::npos) << greeter_reason;
  EXPECT_NE(status("broken").value("reason", "").find("no form of it was ever accepted"),
            std::string::npos)
      << status("broken").dump();

  stop();
  start();
  // A new object's status is written in a round that computed every status after the restart:
  // once it is Accepted, a wrong Accepted for greeter or broken would have been written too
  // (the writer writes in key order, and "greeter" < "later").
  fake_.apply(virtual_service("later", "later", "a"));
  ASSERT_TRUE(fake_kube_apiserver::eventually([&] { return state_is("later", "Accepted"); }))
      << status("later").dump();
  EXPECT_TRUE(state_is("greeter", "Rejected")) << status("greeter").dump();
  EXPECT_TRUE(state_is("broken", "Rejected")) << status("broken").dump();
  EXPECT_EQ(status("greeter").value("reason", ""), greeter_reason);

  // Fixing them clears the rejections.
  fake_.apply(virtual_service("greeter", "greeter", "a", "/fixed.*"));
  fake_.apply(virtual_service("broken", "broken", "a"));
  ASSERT_TRUE(fake_kube_apiserver::eventually([&] {
    return state_is("greeter", "Accepted") && state_is("broken", "Accepted");
  })) << status("greeter").dump()
      << status("broken").dump();
}

}  // namespace
}  // namespace sluice::test::kube
