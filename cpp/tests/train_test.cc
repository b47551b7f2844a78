// Training core: AdamW against LibTorch's own AdamW, the lr schedule, the seeded loader, the
// DisModel's heads/loss composition/parameter counts, and epoch-resume determinism.
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <iostream>
#include <set>
#include <string>

#include <unistd.h>

#include "audio/wav.h"
#include "common/cpu_cache.h"
#include "expect.h"
#include "train/adamw.h"
#include "train/dis_model.h"
#include "train/loader.h"
#include "train/trainer.h"
#include "wav_fixture.h"

namespace fs = std::filesystem;
using namespace asd;
using namespace asd::train;

namespace {

fs::path g_dir;

void test_adamw_matches_libtorch() {
  torch::manual_seed(1);
  auto a = torch::randn({5, 3}).requires_grad_(), b = torch::randn({7}).requires_grad_();
  auto frozen = torch::randn({4});  // never gets a gradient: skipped, no decay
  auto a2 = a.detach().clone().requires_grad_(), b2 = b.detach().clone().requires_grad_();
  AdamWOptions o;
  o.lr = 3e-3, o.weight_decay = 0.05;
  AdamW ours({{"a", a}, {"b", b}, {"frozen", frozen}}, o);
  torch::optim::AdamW ref({a2, b2}, torch::optim::AdamWOptions(o.lr).weight_decay(o.weight_decay).betas({0.9, 0.999}).eps(1e-8));
  const auto frozen0 = frozen.clone();
  for (int step = 0; step < 6; ++step) {
    auto x = torch::randn({3});
    auto loss1 = (a.matmul(x)).pow(2).sum() + (b * b.sin()).sum();
    auto loss2 = (a2.matmul(x)).pow(2).sum() + (b2 * b2.sin()).sum();
    ours.zero_grad();
    ref.zero_grad();
    loss1.backward();
    loss2.backward();
    ours.step(o.lr);
    ref.step();
  }
  EXPECT(max_abs_diff(a, a2) < 1e-6);
  EXPECT(max_abs_diff(b, b2) < 1e-6);
  EXPECT(torch::equal(frozen, frozen0));
  EXPECT(ours.state().size() == 6);  // 2 parameters × (exp_avg, exp_avg_sq, step)
}

void test_adamw_state_roundtrip() {
  auto run = [](bool reload) {
    torch::manual_seed(2);
    auto p = torch::randn({4, 4}).requires_grad_();
    auto make = [&] { return AdamW({{"p", p}}, AdamWOptions{}); };
    AdamW opt = make();
    torch::manual_seed(3);
    for (int s = 0; s < 5; ++s) {
      if (reload && s == 3) {
        auto saved = opt.state();
        std::map<std::string, torch::Tensor> m(saved.begin(), saved.end());
        opt = make();
        opt.load_state(m);
      }
      opt.zero_grad();
      (p.pow(3).sum() + torch::randn({4, 4}).mul(p).sum()).backward();
      opt.step(1e-2);
    }
    return p.detach().clone();
  };
  EXPECT(torch::equal(run(false), run(true)));
  AdamW opt({{"p", torch::zeros({2}).requires_grad_()}}, AdamWOptions{});
  EXPECT_THROWS(std::invalid_argument, "no parameter", opt.load_state({{"q.exp_avg", torch::zeros({2})}}));
  EXPECT_THROWS(std::invalid_argument, "wrong shape", opt.load_state({{"p.exp_avg", torch::zeros({3})}}));
}

void test_schedule() {
  EXPECT(scheduled_lr(1e-3, 7, 0, 0, 0) == 1e-3);
  EXPECT(std::abs(scheduled_lr(1e-4, 2500, 5000, 5001, 1e-4) - 0.5e-4) < 1e-15);  // BEATs warm-up
  EXPECT(std::abs(scheduled_lr(1e-4, 5000, 5000, 5001, 1e-4) - 1e-4) < 1e-15);
  EXPECT(std::abs(scheduled_lr(1.0, 50, 0, 100, 0.0) - 0.5) < 1e-12);  // cosine midpoint
  EXPECT(scheduled_lr(1.0, 200, 0, 100, 0.1) == 0.1);
}

std::vector<std::string> write_clips(int n, int64_t samples) {
  std::vector<std::string> paths;
  for (int i = 0; i < n; ++i) {
    auto p = (g_dir / ("clip_" + std::to_string(i) + ".wav")).string();
    write_wav(p, {}, pcm16_bytes(random_pcm(samples + 100 * i, 100 + i)));
    paths.push_back(p);
  }
  return paths;
}

void test_loader() {
  TrainData d;
  d.paths = write_clips(7, 3000);
  d.labels = {0, 1, 2, 0, 1, 2, 0};
  d.n_classes = 3;
  d.length = 5000;  // longer than the clips: tiled, then a random window
  auto order = epoch_order(7, 9, 0, true);
  EXPECT(std::set<int64_t>(order.begin(), order.end()).size() == 7);
  EXPECT(order == epoch_order(7, 9, 0, true));
  EXPECT(order != epoch_order(7, 9, 1, true));
  EXPECT(epoch_order(4, 9, 0, false) == std::vector<int64_t>({0, 1, 2, 3}));

  auto collect = [&](int threads, int64_t epoch) {
    LoaderOptions o;
    o.batch_size = 3, o.seed = 9, o.io_threads = threads, o.prefetch = 2;
    EpochLoader loader(d, o, epoch, nullptr);
    EXPECT(loader.num_batches() == 3);
    std::vector<TrainBatch> out;
    while (auto b = loader.next()) out.push_back(std::move(*b));
    return out;
  };
  auto one = collect(1, 0), three = collect(3, 0), other = collect(2, 1);
  EXPECT(one.size() == 3 && one.back().input.size(0) == 1);  // the last batch is kept
  bool same = true, differs = false;
  for (size_t b = 0; b < one.size(); ++b) {
    same = same && torch::equal(one[b].input, three[b].input) && torch::equal(one[b].target, three[b].target);
    differs = differs || !torch::equal(one[b].input, other[b].input);
    for (int64_t r = 0; r < one[b].input.size(0); ++r) {
      const int64_t i = one[b].index[static_cast<size_t>(r)];
      EXPECT(one[b].target[r].argmax().item<int64_t>() == d.labels[static_cast<size_t>(i)]);
      EXPECT(one[b].target[r].sum().item<float>() == 1.0f);
      // The row is a window of the tiled clip: find its offset in two tilings of the clip.
      auto clip = audio::read_wav(d.paths[static_cast<size_t>(i)]);
      auto tiled = clip.repeat({4});
      bool found = false;
      for (int64_t off = 0; off < clip.numel() && !found; ++off) {
        found = torch::equal(tiled.slice(0, off, off + d.length), one[b].input[r]);
      }
      EXPECT(found);
    }
  }
  EXPECT(same);
  EXPECT(differs);

  TrainData bad = d;
  bad.paths[4] = (g_dir / "missing.wav").string();
  LoaderOptions o;
  o.batch_size = 2;
  EXPECT_THROWS(std::runtime_error, "missing.wav", {
    EpochLoader loader(bad, o, 0, nullptr);
    while (loader.next()) {
    }
  });
  TrainData wrong = d;
  wrong.labels[1] = 3;
  EXPECT_THROWS(std::invalid_argument, "outside [0, 3)", EpochLoader(wrong, o, 0, nullptr));
}

DisModelConfig config_18s(const std::string& head, bool trainable, DisModelConfig::Technique tech) {
  DisModelConfig c;
  c.extractor = nn::MultiResNetConfig::dual_branch(288000);
  c.n_classes = 187;  // dcase2023 `main`
  c.head.type = head;
  c.head.trainable = trainable;
  c.technique = tech;
  return c;
}

void test_parameter_counts() {
  using T = DisModelConfig::Technique;
  // Spec §4.6 trainable totals at dcase2023.
  EXPECT(count_parameters(*DisModel(config_18s("scadacos", true, T::kNone))).trainable == 3392592);
  EXPECT(count_parameters(*DisModel(config_18s("scadacos", false, T::kNone))).trainable == 2626640);
  EXPECT(count_parameters(*DisModel(config_18s("adacos", false, T::kNone))).trainable == 2626640);
  EXPECT(count_parameters(*DisModel(config_18s("adacos", false, T::kNone))).frozen == 47872);
  EXPECT(count_parameters(*DisModel(config_18s("scadacos", false, T::kFeatEx))).trainable == 4924496);
  EXPECT(count_parameters(*DisModel(config_18s("scadacos", false, T::kSubspace))).trainable == 3392592);
  auto multi = config_18s("scadacos", true, T::kNone);
  multi.extractor = nn::MultiResNetConfig::multi_branch(288000);
  EXPECT(count_parameters(*DisModel(multi)).trainable == 6663408);

  std::set<std::string> names;
  for (const auto& kv : DisModel(config_18s("scadacos", false, T::kSubspace))->named_parameters()) names.insert(kv.key());
  EXPECT(names.count("head_dict.main.W") && names.count("head_dict.main.s"));
  EXPECT(names.count("subspace_head_dict.main.0.W") && names.count("subspace_head_dict.main.1.W"));
  EXPECT(names.count("extractor.fft_layer.layer.conv1d_layer.0.weight"));
  names.clear();
  for (const auto& kv : DisModel(config_18s("scadacos", false, T::kFeatEx))->named_parameters()) names.insert(kv.key());
  EXPECT(names.count("featex_head_dict.main.W"));
  auto bad = config_18s("nosuch", false, T::kNone);
  EXPECT_THROWS(std::invalid_argument, "unknown loss head", DisModel{bad});
}

// A small STFT-only extractor on 1 s clips keeps the training tests fast.
DisModelConfig small_config(DisModelConfig::Technique tech, double mixup) {
  DisModelConfig c;
  c.extractor.sec_samples = 16000;
  c.extractor.branches = {nn::BranchSpec::linear_stft(256, 128), nn::BranchSpec::linear_stft(1024, 256)};
  c.n_classes = 3;
  c.head.type = "scadacos";
  c.head.n_subclusters = 2;
  c.head.trainable = true;
  c.technique = tech;
  c.mixup_prob = mixup;
  return c;
}

void test_loss_composition() {
  using T = DisModelConfig::Technique;
  torch::manual_seed(4);
  auto wave = torch::randn({4, 16000}) * 0.1;
  auto y = torch::eye(3).index_select(0, torch::tensor({0, 1, 2, 1}));
  for (T tech : {T::kNone, T::kFeatEx, T::kSubspace}) {
    torch::manual_seed(5);
    DisModel m(small_config(tech, 0.5));
    m->train();
    auto terms = m->training_loss(wave, y, at::make_generator<at::CPUGeneratorImpl>(11));
    EXPECT(terms.back().first == "main");
    const double total = terms.back().second.item<double>();
    double parts = 0;
    for (size_t i = 0; i + 1 < terms.size(); ++i) parts += terms[i].second.item<double>();
    if (tech == T::kNone) {
      EXPECT(terms.size() == 2 && terms[0].first == "dis_main" && total == parts);
    } else {
      // FeatEx/subspace: the reference's doubled per-label sum (§7.4).
      EXPECT(std::abs(total - 2 * parts) < 1e-5 * std::abs(total));
      EXPECT(terms[0].first == "main_main");
      EXPECT(terms[1].first == (tech == T::kFeatEx ? "main_featex" : "main_subspace_0"));
    }
    // Same generator seed → same draws → same loss.
    torch::manual_seed(5);
    DisModel m2(small_config(tech, 0.5));
    m2->train();
    EXPECT(m2->training_loss(wave, y, at::make_generator<at::CPUGeneratorImpl>(11)).back().second.item<double>() == total);
  }
}

void test_resume_equals_uninterrupted() {
  TrainData d;
  d.paths = write_clips(6, 12000);
  d.labels = {0, 1, 2, 0, 1, 2};
  d.n_classes = 3;
  d.length = 16000;
  TrainOptions o;
  o.loader.batch_size = 4, o.loader.seed = 3, o.loader.io_threads = 2;
  RunContext ctx;
  auto fresh = [] {
    torch::manual_seed(7);
    return DisModel(small_config(DisModelConfig::Technique::kFeatEx, 0.5));
  };
  DisModel a = fresh();
  Trainer ta(a.ptr(), o);
  std::vector<StepMetrics> steps;
  for (int64_t e = 0; e < 3; ++e) ta.run_epoch(d, e, ctx, [&](const StepMetrics& m) { steps.push_back(m); });
  EXPECT(steps.size() == 6 && steps.back().global_step == 6 && steps.back().num_batches == 2);
  EXPECT(steps[0].losses.size() == 3 && steps[0].grad_norm > 0 && steps[0].lr == 1e-3);

  DisModel b = fresh();
  {
    Trainer tb(b.ptr(), o);
    tb.run_epoch(d, 0, ctx, nullptr);
    // "Checkpoint": parameters, buffers and optimiser state, then a new model and trainer.
    auto opt_state = tb.optimizer().state();
    std::map<std::string, torch::Tensor> opt_map(opt_state.begin(), opt_state.end());
    torch::manual_seed(99);  // a different init that the loaded state must overwrite
    DisModel c(small_config(DisModelConfig::Technique::kFeatEx, 0.5));
    {
      torch::NoGradGuard ng;
      auto src = b->named_parameters();
      for (auto& kv : c->named_parameters()) kv.value().copy_(src[kv.key()]);
      auto srcb = b->named_buffers();
      for (auto& kv : c->named_buffers()) kv.value().copy_(srcb[kv.key()]);
    }
    Trainer tc(c.ptr(), o);
    tc.optimizer().load_state(opt_map);
    tc.set_global_step(tb.global_step());
    for (int64_t e = 1; e < 3; ++e) tc.run_epoch(d, e, ctx, nullptr);
    b = c;
  }
  auto pa = a->named_parameters(), pb = b->named_parameters();
  double diff = 0;
  for (auto& kv : pa) diff = std::max(diff, max_abs_diff(kv.value(), pb[kv.key()]));
  auto ba = a->named_buffers(), bb = b->named_buffers();
  for (auto& kv : ba) diff = std::max(diff, max_abs_diff(kv.value(), bb[kv.key()]));
  std::cout << "resume vs uninterrupted, max |Δ| over parameters and buffers: " << diff << "\n";
  EXPECT(diff == 0);

  CancelToken token;
  token.cancel();
  RunContext cancelled;
  cancelled.cancel = &token;
  Trainer td(fresh().ptr(), o);
  EXPECT_THROWS(Cancelled, "aborted", td.run_epoch(d, 0, cancelled, nullptr));
}

void test_cpu_cache() {
  install_cpu_cache(int64_t{64} << 20);
  const auto before = cpu_cache_stats();
  EXPECT(before.installed && before.limit_bytes == (int64_t{64} << 20));
  void* first = nullptr;
  {
    auto a = torch::ones({1 << 20});  // 4 MiB: a cached size class
    first = a.data_ptr();
    EXPECT(a.sum().item<float>() == float(1 << 20));
  }
  EXPECT(cpu_cache_stats().cached_bytes >= (int64_t{4} << 20));
  {
    auto b = torch::zeros({(1 << 20) - 100});  // a slightly smaller request reuses the block
    EXPECT(b.data_ptr() == first);
    EXPECT(b.abs().sum().item<float>() == 0.0f);
    EXPECT(cpu_cache_stats().hits == before.hits + 1);
    auto small = torch::arange(10);  // small blocks: the default path, freed correctly
    EXPECT(small.sum().item<int64_t>() == 45);
  }
  { auto big = torch::empty({int64_t{20} << 20}); }  // 80 MiB exceeds the cap: not cached
  EXPECT(cpu_cache_stats().cached_bytes <= (int64_t{64} << 20));
  release_cpu_cache();
  EXPECT(cpu_cache_stats().cached_bytes == 0 && cpu_cache_stats().in_use_bytes == 0);
}

}  // namespace

// bf16 autocast on the CPU needs avx512_bf16/amx_bf16 (bf16_cpu_test covers it where present):
// refused without, and a no-op when off on every CPU.
void test_bf16_scope() {
  if (!asd::cpu_has_bf16()) {
    EXPECT_THROWS(std::invalid_argument, "bf16 on the CPU needs", asd::Bf16Autocast(torch::Device(torch::kCPU), true));
  }
  { asd::Bf16Autocast off(torch::Device(torch::kCPU), false); }
  auto a = torch::randn({4, 4});
  EXPECT((torch::matmul(a, a).scalar_type() == torch::kFloat32));
}

int main() {
  set_num_threads(0);
  g_dir = fs::temp_directory_path() / ("asdkit_train_test_" + std::to_string(::getpid()));
  fs::create_directories(g_dir);
  const int rc = run_tests({
      {"AdamW matches torch::optim::AdamW", test_adamw_matches_libtorch},
      {"AdamW state round trip", test_adamw_state_roundtrip},
      {"lr schedule", test_schedule},
      {"seeded loader", test_loader},
      {"parameter counts and names", test_parameter_counts},
      {"loss composition", test_loss_composition},
      {"resume equals uninterrupted", test_resume_equals_uninterrupted},
      {"caching CPU allocator", test_cpu_cache},
      {"bf16 autocast scope", test_bf16_scope},
  });
  fs::remove_all(g_dir);
  return rc;
}
