// Checks that a power cut leaves exactly the allowed device images: for a
// small case, exhaustive DFS enumerates every decision of the power cut
// (which writes reached the device, in which order, whole, lost or torn per
// sector) and the set of images is compared with the set the rules allow,
// per sector: the durable version or any newer version written since.
// With FUA the written version is the only one; with writes still in
// flight, their data joins the possibilities. Also: the hardware programs
// find their bugs and their correct twins stay clean under exhaustive DFS.
#include <gtest/gtest.h>

#include <set>

#include "model/explorer.h"
#include "scenarios/registry.h"
#include "sim/block.h"
#include "sim/sync.h"

namespace fsim::scenarios {
namespace {

using Image = std::pair<uint8_t, uint8_t>;  // first byte of sectors 0 and 1

struct Case {
  bool fua_second = false;
  bool in_flight_fourth = false;
};

// W1: A to sectors 0-1, flush; W2: B to 0-1 (FUA if asked); W3: C to 1;
// optionally W4: D to 0, still in flight; then the power is cut.
class PowerCutCase final : public sim::Program {
 public:
  PowerCutCase(Case c, std::set<Image>* images) : case_(c), images_(images) {}
  void Start(sim::Scheduler& s) override {
    sim::DeviceConfig cfg;
    cfg.name = "vda";
    cfg.capacity_sectors = 2;
    cfg.latency_choices = 1;  // the power cut's decisions only
    disk_ = std::make_unique<sim::BlockDevice>(s, cfg);
    for (uint8_t v : {'A', 'B', 'C', 'D'}) data_.push_back(std::vector<uint8_t>(1024, v));
    s.Spawn("fs", [this] {
      auto write = [&](int i, uint64_t sector, uint32_t len, uint32_t flags) {
        sim::Bio b;
        b.op = sim::BioOp::kWrite;
        b.sector = sector;
        b.flags = flags;
        b.vecs = {{data_[i].data(), len}};
        return b;
      };
      sim::Bio w1 = write(0, 0, 1024, 0);
      disk_->SubmitBioWait(w1);
      sim::Bio flush;
      flush.op = sim::BioOp::kFlush;
      disk_->SubmitBioWait(flush);
      sim::Bio w2 = write(1, 0, 1024, case_.fua_second ? sim::kBioFua : 0);
      disk_->SubmitBioWait(w2);
      sim::Bio w3 = write(2, 1, 512, 0);
      disk_->SubmitBioWait(w3);
      w4_ = write(3, 0, 512, 0);  // a member: it must outlive its end_io
      if (case_.in_flight_fourth) {
        w4_.end_io = [](sim::Bio&) {};
        disk_->SubmitBio(&w4_);
      }
      disk_->PowerCut();
      std::vector<uint8_t> image(1024);
      disk_->ReadSectors(0, 2, image.data(), true);
      images_->insert({image[0], image[512]});
      std::string why;
      EXPECT_TRUE(disk_->VerifyImage(&why)) << why;
    });
  }

 private:
  Case case_;
  std::set<Image>* images_;
  std::unique_ptr<sim::BlockDevice> disk_;
  std::vector<std::vector<uint8_t>> data_;
  sim::Bio w4_;
};

std::set<Image> Enumerate(Case c) {
  std::set<Image> images;
  model::Target target;
  target.scenario = "power_cut_case";
  target.scenario_json = R"({"name":"power_cut_case"})";
  target.make = [c, &images] { return std::make_unique<PowerCutCase>(c, &images); };
  model::ExploreOptions o;
  o.strategy.name = "dfs";
  o.all = true;
  model::ExploreSummary s = model::Explore({target}, o);
  EXPECT_TRUE(s.targets[0].exhausted);
  EXPECT_TRUE(s.findings.empty());
  return images;
}

std::set<Image> Product(const std::set<uint8_t>& s0, const std::set<uint8_t>& s1) {
  std::set<Image> out;
  for (uint8_t a : s0) {
    for (uint8_t b : s1) out.insert({a, b});
  }
  return out;
}

TEST(PowerCutTest, WithoutFlushAnyVersionSinceTheLastDurableOneMaySurvive) {
  EXPECT_EQ(Enumerate({}), Product({'A', 'B'}, {'A', 'B', 'C'}));
}

TEST(PowerCutTest, FuaLeavesOnlyTheFuaVersionOrNewer) {
  EXPECT_EQ(Enumerate({.fua_second = true}), Product({'B'}, {'B', 'C'}));
}

TEST(PowerCutTest, AWriteInFlightMayOrMayNotHaveReachedTheDevice) {
  EXPECT_EQ(Enumerate({.in_flight_fourth = true}), Product({'A', 'B', 'D'}, {'A', 'B', 'C'}));
}

// W1 (A, sector 0) completes into the cache; W2 (B, sector 1) with
// PREFLUSH|FUA is still in flight at the cut. If the device carried W2
// out, it flushed first: B on the media implies A there too.
class InFlightFlushCase final : public sim::Program {
 public:
  explicit InFlightFlushCase(std::set<Image>* images) : images_(images) {}
  void Start(sim::Scheduler& s) override {
    sim::DeviceConfig cfg;
    cfg.name = "vda";
    cfg.capacity_sectors = 2;
    cfg.latency_choices = 1;
    disk_ = std::make_unique<sim::BlockDevice>(s, cfg);
    a_.assign(512, 'A');
    b_.assign(512, 'B');
    s.Spawn("fs", [this] {
      sim::Bio w1;
      w1.op = sim::BioOp::kWrite;
      w1.vecs = {{a_.data(), 512}};
      disk_->SubmitBioWait(w1);
      w2_.op = sim::BioOp::kWrite;
      w2_.sector = 1;
      w2_.flags = sim::kBioPreflush | sim::kBioFua;
      w2_.vecs = {{b_.data(), 512}};
      w2_.end_io = [](sim::Bio&) {};
      disk_->SubmitBio(&w2_);
      disk_->PowerCut();
      std::vector<uint8_t> image(1024);
      disk_->ReadSectors(0, 2, image.data(), true);
      images_->insert({image[0], image[512]});
    });
  }

 private:
  std::set<Image>* images_;
  std::unique_ptr<sim::BlockDevice> disk_;
  std::vector<uint8_t> a_, b_;
  sim::Bio w2_;
};

TEST(PowerCutTest, AnInFlightPreflushWriteThatLandedFlushedWhatPrecededIt) {
  std::set<Image> images;
  model::Target target;
  target.scenario = "inflight_flush_case";
  target.scenario_json = R"({"name":"inflight_flush_case"})";
  target.make = [&images] { return std::make_unique<InFlightFlushCase>(&images); };
  model::ExploreOptions o;
  o.strategy.name = "dfs";
  o.all = true;
  model::ExploreSummary s = model::Explore({target}, o);
  EXPECT_TRUE(s.targets[0].exhausted);
  EXPECT_EQ(images, (std::set<Image>{{0, 0}, {'A', 0}, {'A', 'B'}}));  // never (0, B)
}

model::Target Make(const std::string& name) {
  std::string error;
  auto t = MakeTarget(name, {}, &error);
  EXPECT_TRUE(t.has_value()) << error;
  return *t;
}

TEST(HardwareProgramsTest, BuggyProgramsAreFoundCorrectOnesExhaustClean) {
  const std::map<std::string, sim::FindingKind> bugs = {
      {"disk_no_flush", sim::FindingKind::kCrashInconsistency},
      {"disk_overwrite_racing", sim::FindingKind::kDataMismatch},
      {"disk_mirror_no_fallback", sim::FindingKind::kDataMismatch},
      {"disk_bio_too_large", sim::FindingKind::kWarn},
      {"disk_end_io_sleeps", sim::FindingKind::kSleepInAtomic},
  };
  for (const auto& [name, kind] : bugs) {
    model::ExploreOptions o;
    o.runs = 1000;
    model::ExploreSummary s = model::Explore({Make(name)}, o);
    ASSERT_EQ(s.findings.size(), 1u) << name;
    EXPECT_EQ(s.findings[0].finding.kind, kind) << name;
  }
  for (const std::string& name :
       {"disk_overwrite_ordered", "disk_io_error_retry", "disk_mirror", "disk_flush_durable"}) {
    model::ExploreOptions o;
    o.strategy.name = "dfs";
    o.all = true;
    model::ExploreSummary s = model::Explore({Make(name)}, o);
    EXPECT_TRUE(s.targets[0].exhausted) << name;
    EXPECT_TRUE(s.findings.empty()) << name << ": " << s.findings[0].finding.report;
  }
}

}  // namespace
}  // namespace fsim::scenarios
