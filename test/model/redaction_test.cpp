#include "model/redaction.hpp"

#include <gtest/gtest.h>

namespace sluice::model {
namespace {

using json = nlohmann::json;

TEST(RedactionTest, SecretPayloadIsReplacedAndMetadataKept) {
  auto secret = json::parse(R"({"metadata": {"name": "cert", "namespace": "apps"},
      "tls": {"certChain": "CERT", "privateKey": "KEY"},
      "aws": {"accessKey": "AK", "secretKey": "SK"}})");
  redact_gloo_json("Secret", secret);
  const auto text = secret.dump();
  for (const char* leaked : {"CERT", "KEY\"", "\"AK\"", "SK"}) {
    EXPECT_EQ(text.find(leaked), std::string::npos) << leaked << " in " << text;
  }
  EXPECT_EQ(secret["metadata"]["name"], "cert");
  EXPECT_EQ(secret["tls"]["privateKey"], redacted("KEY"));
  EXPECT_NE(redacted("KEY"), redacted("KEY2")) << "a changed key must still show as a change";
}

TEST(RedactionTest, OtherKindsLoseOnlySecretNamedFields) {
  auto upstream = json::parse(R"({"metadata": {"name": "u"},
      "static": {"hosts": [{"addr": "10.0.0.1", "port": 80}]},
      "sslConfig": {"sslFiles": {"tlsCert": "/c.pem"}, "privateKey": "INLINE"}})");
  redact_gloo_json("Upstream", upstream);
  EXPECT_EQ(upstream["static"]["hosts"][0]["addr"], "10.0.0.1");
  EXPECT_EQ(upstream["sslConfig"]["sslFiles"]["tlsCert"], "/c.pem");
  EXPECT_EQ(upstream["sslConfig"]["privateKey"], redacted("INLINE"));
}

TEST(RedactionTest, EnvoyInlineKeysAreRedactedFileNamesAreNot) {
  auto listener = json::parse(R"({"filterChains": [{"transportSocket": {"typedConfig": {
      "commonTlsContext": {"tlsCertificates": [{
        "certificateChain": {"inlineString": "CHAIN"},
        "privateKey": {"inlineString": "PEMKEY"}}]}}}},
      {"transportSocket": {"typedConfig": {"commonTlsContext": {"tlsCertificates": [{
        "privateKey": {"filename": "/etc/key.pem"}}]}}}}]})");
  redact_envoy_json(listener);
  const auto text = listener.dump();
  EXPECT_EQ(text.find("PEMKEY"), std::string::npos) << text;
  EXPECT_NE(text.find("CHAIN"), std::string::npos) << "certificates are public";
  EXPECT_NE(text.find("/etc/key.pem"), std::string::npos) << text;
}

}  // namespace
}  // namespace sluice::model
