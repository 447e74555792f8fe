#include "model/metrics.hpp"

#include <gtest/gtest.h>

namespace sluice::model {
namespace {

TEST(MetricsRegistryTest, RendersPrometheusTextSortedWithLabels) {
  metrics_registry r;
  r.counter("sluice_b_total", "b things", "type=\"cds\"").add(3);
  r.counter("sluice_b_total", "b things", "type=\"eds\"").add();
  r.gauge("sluice_a", "a gauge").set(7);
  EXPECT_EQ(r.render(),
            "# HELP sluice_a a gauge\n# TYPE sluice_a gauge\nsluice_a 7\n"
            "# HELP sluice_b_total b things\n# TYPE sluice_b_total counter\n"
            "sluice_b_total{type=\"cds\"} 3\nsluice_b_total{type=\"eds\"} 1\n");
}

TEST(MetricsRegistryTest, SameNameAndLabelsIsTheSameSeries) {
  metrics_registry r;
  auto& a = r.counter("x_total", "x");
  auto& b = r.counter("x_total", "x");
  a.add(2);
  EXPECT_EQ(&a, &b);
  EXPECT_EQ(b.get(), 2);
}

}  // namespace
}  // namespace sluice::model
