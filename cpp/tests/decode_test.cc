// audio::decode_clip / decode_batch: formats, channels, resampling (libsoxr), tiling, bounded
// reads and every file problem reported as an entry naming the file; decode_buffer /
// decode_buffers: the same from bytes in memory.
#include <sndfile.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "audio/decode.h"
#include "audio/wav.h"
#include "expect.h"
#include "wav_fixture.h"

namespace fs = std::filesystem;
using asd::audio::AudioBuffer;
using asd::audio::Channel;
using asd::audio::decode_buffer;
using asd::audio::decode_clip;
using asd::audio::DecodeOptions;

namespace {

const fs::path kDir = fs::temp_directory_path() / ("asd_decode_test_" + std::to_string(::getpid()));

std::string file(const std::string& name) { return (kDir / name).string(); }

std::vector<float> sine(int sr, double hz, double amplitude, int64_t n) {
  std::vector<float> x(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) x[static_cast<size_t>(i)] = static_cast<float>(amplitude * std::sin(2 * M_PI * hz * i / sr));
  return x;
}

std::string float_bytes(const std::vector<float>& x) {
  std::string d(x.size() * 4, '\0');
  std::memcpy(d.data(), x.data(), d.size());  // little-endian hosts only, like the fixtures
  return d;
}

// FLAC / OGG through libsndfile's writer (interleaved float frames).
void write_sndfile(const std::string& path, int format, int sr, int channels, const std::vector<float>& frames) {
  SF_INFO info{};
  info.samplerate = sr;
  info.channels = channels;
  info.format = format;
  SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
  if (!f) throw std::runtime_error(std::string("cannot write ") + path + ": " + sf_strerror(nullptr));
  sf_writef_float(f, frames.data(), static_cast<sf_count_t>(frames.size()) / channels);
  sf_close(f);
}
void write_sndfile(const std::string& path, int format, int sr, const std::vector<int16_t>& pcm) {
  SF_INFO info{};
  info.samplerate = sr;
  info.channels = 1;
  info.format = format;
  SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
  if (!f) throw std::runtime_error(std::string("cannot write ") + path + ": " + sf_strerror(nullptr));
  sf_writef_short(f, pcm.data(), static_cast<sf_count_t>(pcm.size()));  // shorts: no float scaling on write
  sf_close(f);
}

DecodeOptions opts(int64_t sr, int64_t length, Channel ch = Channel::kMean) {
  DecodeOptions o;
  o.sample_rate = sr;
  o.length = length;
  o.channel = ch;
  return o;
}

// Frequency of the largest DFT bin of x (Hz), and the RMS level in dB relative to `amplitude`/√2.
double peak_hz(const torch::Tensor& x, int sr) {
  const torch::Tensor mag = torch::fft::rfft(x.to(torch::kFloat64)).abs();
  return mag.argmax().item<int64_t>() * static_cast<double>(sr) / x.numel();
}
double level_db(const torch::Tensor& x, double amplitude) {
  const double rms = x.to(torch::kFloat64).pow(2).mean().sqrt().item<double>();
  return 20 * std::log10(rms / (amplitude / std::sqrt(2.0)));
}

void test_pcm16_matches_read_wav() {
  const auto pcm = random_pcm(12345, 7);
  const std::string p = file("mono16k.wav");
  write_wav(p, {}, pcm16_bytes(pcm));
  for (int64_t length : {5000, 12345, 40000}) {  // crop, exact, tile
    auto d = decode_clip(p, opts(16000, length));
    EXPECT(d.ok);
    EXPECT(torch::equal(d.wave, asd::audio::crop_or_tile(asd::audio::read_wav(p), length)));
    EXPECT(d.sample_rate == 16000 && d.channels == 1 && d.frames == 12345 && d.format == "WAV");
  }
  // Only the samples the clip needs were read.
  EXPECT(decode_clip(p, opts(16000, 5000)).frames_read == 5000);
}

void test_channels() {
  const auto a = random_pcm(4000, 1), b = random_pcm(4000, 2);
  std::vector<int16_t> inter;
  for (size_t i = 0; i < a.size(); ++i) inter.insert(inter.end(), {a[i], b[i]});
  const std::string p = file("stereo.wav");
  WavSpec spec;
  spec.channels = 2;
  write_wav(p, spec, pcm16_bytes(inter));
  auto mean = decode_clip(p, opts(16000, 4000));
  auto near = decode_clip(p, opts(16000, 4000, Channel::kNear));
  auto far = decode_clip(p, opts(16000, 4000, Channel::kFar));
  EXPECT(mean.ok && near.ok && far.ok && mean.channels == 2);
  bool exact = true;
  for (size_t i = 0; i < a.size(); ++i) {
    exact &= near.wave[i].item<float>() == a[i] / 32768.0f;
    exact &= far.wave[i].item<float>() == b[i] / 32768.0f;
    exact &= mean.wave[i].item<float>() == static_cast<float>((a[i] + b[i]) / 65536.0);
  }
  EXPECT(exact);
  // `far` needs a second channel.
  const std::string mono = file("mono16k.wav");
  auto bad = decode_clip(mono, opts(16000, 100, Channel::kFar));
  EXPECT(!bad.ok && bad.error == mono + ": mono audio has no far channel" && bad.channels == 1);
}

void test_resampling() {
  for (int sr : {44100, 8000, 48000}) {
    const double hz = 1000, amp = 0.5;
    const std::string p = file("sine" + std::to_string(sr) + ".wav");
    WavSpec spec;
    spec.sr = sr;
    spec.bits = 32;
    spec.fmt = 3;
    write_wav(p, spec, float_bytes(sine(sr, hz, amp, 3 * sr)));
    auto d = decode_clip(p, opts(16000, 3 * 16000));
    EXPECT(d.ok && d.sample_rate == sr && d.frames == 3 * sr);
    const torch::Tensor mid = d.wave.narrow(0, 16000, 16000);  // 1 s away from both edges
    EXPECT(std::fabs(peak_hz(mid, 16000) - hz) < 1e-9);
    const double db = level_db(mid, amp);
    if (std::fabs(db) >= 0.1) std::cerr << sr << " Hz: level " << db << " dB\n";
    EXPECT(std::fabs(db) < 0.1);
    // Zero crossings of the middle second: 2 per period.
    int crossings = 0;
    const float* x = mid.data_ptr<float>();
    for (int i = 1; i < 16000; ++i) crossings += (x[i - 1] < 0) != (x[i] < 0);
    EXPECT(std::abs(crossings - 2000) <= 2);
  }
}

void test_tiling_and_bounded_reads() {
  // 0.1 s at 44.1 kHz → 1600 samples at 16 kHz, resampled first, then repeated whole.
  const std::string shortp = file("short44k.wav");
  WavSpec spec;
  spec.sr = 44100;
  write_wav(shortp, spec, pcm16_bytes(random_pcm(4410, 3)));
  auto s = decode_clip(shortp, opts(16000, 5000));
  EXPECT(s.ok && s.frames_read == 4410);
  EXPECT(torch::equal(s.wave.narrow(0, 1600, 1600), s.wave.narrow(0, 0, 1600)));
  EXPECT(torch::equal(s.wave.narrow(0, 3200, 1800), s.wave.narrow(0, 0, 1800)));
  EXPECT(!torch::equal(s.wave.narrow(0, 1, 1600), s.wave.narrow(0, 0, 1600)));

  // A 60 s file at 44.1 kHz: a 1 s clip reads about 1 s (plus the resampler's look-ahead) and
  // equals the start of the whole file resampled.
  const std::string longp = file("long44k.wav");
  write_wav(longp, spec, pcm16_bytes(random_pcm(60 * 44100, 4)));
  auto clip = decode_clip(longp, opts(16000, 16000));
  auto whole = decode_clip(longp, opts(16000, 60 * 16000));
  EXPECT(clip.ok && whole.ok);
  std::cout << "  bounded read: " << clip.frames_read << " frames for 44100 needed\n";
  EXPECT(clip.frames_read >= 44100 && clip.frames_read <= 44100 + 8192);
  EXPECT(max_abs_diff(clip.wave, whole.wave.narrow(0, 0, 16000)) < 1e-6);
}

void test_flac_and_ogg() {
  const auto pcm = random_pcm(9000, 5);
  std::vector<float> x(pcm.size());
  for (size_t i = 0; i < pcm.size(); ++i) x[i] = pcm[i] / 32768.0f;
  const std::string flac = file("a.flac");
  write_sndfile(flac, SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 16000, pcm);
  auto f = decode_clip(flac, opts(16000, 9000));
  EXPECT(f.ok && f.format == "FLAC" && f.frames == 9000);
  EXPECT(f.ok && torch::equal(f.wave, torch::from_blob(x.data(), {9000}, torch::kFloat32)));  // lossless

  // Vorbis at 44.1 kHz stereo: decoded, channel-averaged and resampled; the tone survives.
  const auto tone = sine(44100, 1000, 0.5, 2 * 44100);
  std::vector<float> st;
  for (float v : tone) st.insert(st.end(), {v, v});
  const std::string ogg = file("a.ogg");
  write_sndfile(ogg, SF_FORMAT_OGG | SF_FORMAT_VORBIS, 44100, 2, st);
  auto o = decode_clip(ogg, opts(16000, 32000));
  EXPECT(o.ok && o.format == "OGG" && o.channels == 2 && o.sample_rate == 44100);
  if (!o.ok) std::cerr << o.error << "\n";
  if (o.ok) {
    const torch::Tensor mid = o.wave.narrow(0, 8000, 16000);
    EXPECT(std::fabs(peak_hz(mid, 16000) - 1000) < 1e-9);
    EXPECT(std::fabs(level_db(mid, 0.5)) < 0.5);  // lossy codec: loose level check
  }

  // Cut-off compressed files: an error, not a shorter clip (or a crash). FLAC announces frames it
  // cannot deliver; a half Ogg has no last page, so its length is unknown and nothing decodes.
  for (const std::string& src : {flac, ogg}) {
    const std::string cut = file("cut" + fs::path(src).extension().string());
    fs::copy_file(src, cut, fs::copy_options::overwrite_existing);
    fs::resize_file(cut, fs::file_size(src) / 2);
    auto c = decode_clip(cut, opts(16000, 32000));
    std::cout << "  " << (c.ok ? "ok (frames " + std::to_string(c.frames) + ")" : c.error) << "\n";
    EXPECT(!c.ok && c.error.rfind(cut + ": ", 0) == 0);
  }

  // 24- and 32-bit PCM: libsndfile scales them to [-1, 1) by a power of two, so 16-bit content
  // comes back exactly.
  for (int sub : {SF_FORMAT_PCM_24, SF_FORMAT_PCM_32}) {
    const std::string p = file("wide.wav");
    write_sndfile(p, SF_FORMAT_WAV | sub, 16000, pcm);
    auto w = decode_clip(p, opts(16000, 9000));
    EXPECT(w.ok && torch::equal(w.wave, f.wave));
  }
}

void expect_error(const std::string& path, const std::string& needle, const DecodeOptions& o = opts(16000, 1000)) {
  auto d = decode_clip(path, o);
  ++g_checks;
  if (d.ok || d.error.rfind(path + ": ", 0) != 0 || d.error.find(needle) == std::string::npos) {
    ++g_failures;
    std::cerr << "expected an error for " << path << " containing \"" << needle << "\", got "
              << (d.ok ? "ok" : d.error) << "\n";
  }
}

void test_errors() {
  expect_error(file("missing.wav"), "no such file");
  std::ofstream(file("empty.wav")).close();
  expect_error(file("empty.wav"), "empty");
  fs::create_directories(kDir / "dir.wav");
  expect_error(file("dir.wav"), "directory");
  const std::string trunc = file("trunc.wav");
  WavSpec lying;
  lying.declared_data_bytes = 100000;
  write_wav(trunc, lying, pcm16_bytes(random_pcm(1000, 6)));
  expect_error(trunc, "truncated");
  std::string junk;
  std::mt19937 rng(9);
  for (int i = 0; i < 5000; ++i) junk.push_back(static_cast<char>(rng()));
  std::ofstream(file("junk.wav"), std::ios::binary) << junk;
  expect_error(file("junk.wav"), "not a readable audio file");
  write_wav(file("nodata.wav"), {}, "");
  expect_error(file("nodata.wav"), "no audio samples");
  WavSpec fl;
  fl.bits = 32;
  fl.fmt = 3;
  auto xs = sine(16000, 440, 0.5, 2000);
  xs[700] = NAN;
  write_wav(file("nan.wav"), fl, float_bytes(xs));
  expect_error(file("nan.wav"), "NaN sample at frame 700");
  xs[700] = INFINITY;
  write_wav(file("inf.wav"), fl, float_bytes(xs));
  expect_error(file("inf.wav"), "infinite");
  EXPECT_THROWS(std::invalid_argument, "length", decode_clip(file("mono16k.wav"), opts(16000, 0)));
  EXPECT_THROWS(std::invalid_argument, "sample_rate", decode_clip(file("mono16k.wav"), opts(0, 10)));
  EXPECT_THROWS(std::invalid_argument, "channel", asd::audio::parse_channel("left"));
}

void test_batch() {
  const std::vector<std::string> paths = {file("mono16k.wav"), file("missing.wav"), file("sine44100.wav"),
                                          file("dir.wav"), file("a.flac")};
  std::vector<int64_t> seen;
  asd::RunContext ctx;
  ctx.progress = [&](int64_t done, int64_t total) {
    EXPECT(total == 5);
    seen.push_back(done);
  };
  auto b = asd::audio::decode_batch(paths, opts(16000, 3000), ctx, 3);
  EXPECT(b.files.size() == 5 && b.wave.size(0) == 3 && b.wave.size(1) == 3000);
  EXPECT(b.files[0].ok && !b.files[1].ok && b.files[2].ok && !b.files[3].ok && b.files[4].ok);
  EXPECT(seen.size() == 5 && seen.back() == 5);
  EXPECT(torch::equal(b.wave[0], decode_clip(paths[0], opts(16000, 3000)).wave));
  EXPECT(torch::equal(b.wave[1], decode_clip(paths[2], opts(16000, 3000)).wave));
  EXPECT(torch::equal(b.wave[2], decode_clip(paths[4], opts(16000, 3000)).wave));
  asd::CancelToken token;
  token.cancel();
  ctx.cancel = &token;
  EXPECT_THROWS(asd::Cancelled, "aborted", asd::audio::decode_batch(paths, opts(16000, 3000), ctx, 2));
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

AudioBuffer buffer_of(const std::string& bytes, const std::string& name) {
  AudioBuffer b;
  b.data = reinterpret_cast<const unsigned char*>(bytes.data());
  b.size = static_cast<int64_t>(bytes.size());
  b.name = name;
  return b;
}

// Every field of a memory decode equals the file decode of the same bytes, the clip bit for bit.
void expect_same_as_file(const std::string& path, const DecodeOptions& o) {
  const std::string bytes = read_bytes(path);
  const auto f = decode_clip(path, o);
  const auto m = decode_buffer(buffer_of(bytes, "upload"), o);
  ++g_checks;
  const bool same = f.ok && m.ok && torch::equal(f.wave, m.wave) && f.sample_rate == m.sample_rate &&
                    f.channels == m.channels && f.frames == m.frames && f.format == m.format &&
                    f.frames_read == m.frames_read;
  if (!same) {
    ++g_failures;
    std::cerr << "memory decode of " << path << " differs from the file decode: " << (f.ok ? "ok" : f.error) << " / "
              << (m.ok ? "ok" : m.error) << "\n";
  }
}

void test_memory_matches_files() {
  // 16-bit mono WAV (crop, exact, tile), FLAC, Vorbis, and 44.1 kHz stereo WAV (resampled,
  // each channel choice, a bounded read of a long file).
  const std::string wav = file("mem16k.wav");
  write_wav(wav, {}, pcm16_bytes(random_pcm(12345, 11)));
  for (int64_t length : {5000, 12345, 40000}) expect_same_as_file(wav, opts(16000, length));
  expect_same_as_file(wav, opts(22050, 9000));

  const std::string flac = file("mem.flac");
  write_sndfile(flac, SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 16000, random_pcm(9000, 12));
  expect_same_as_file(flac, opts(16000, 9000));
  expect_same_as_file(flac, opts(16000, 20000));
  const auto m = decode_buffer(buffer_of(read_bytes(flac), "x"), opts(16000, 100));
  EXPECT(m.ok && m.format == "FLAC" && m.frames == 9000);

  std::vector<float> st;
  for (float v : sine(44100, 1000, 0.5, 44100)) st.insert(st.end(), {v, v});
  const std::string ogg = file("mem.ogg");
  write_sndfile(ogg, SF_FORMAT_OGG | SF_FORMAT_VORBIS, 44100, 2, st);
  expect_same_as_file(ogg, opts(16000, 20000));

  WavSpec spec;
  spec.sr = 44100;
  spec.channels = 2;
  const std::string stereo = file("mem44k_stereo.wav");
  write_wav(stereo, spec, pcm16_bytes(random_pcm(2 * 10 * 44100, 13)));
  for (Channel ch : {Channel::kMean, Channel::kNear, Channel::kFar}) expect_same_as_file(stereo, opts(16000, 16000, ch));
  expect_same_as_file(stereo, opts(16000, 10 * 16000 + 777));  // the whole file, then tiled
  expect_same_as_file(stereo, opts(48000, 3000));
}

void expect_buffer_error(const std::string& bytes, const std::string& name, const std::string& needle,
                         const DecodeOptions& o = opts(16000, 1000)) {
  auto d = decode_buffer(buffer_of(bytes, name), o);
  ++g_checks;
  if (d.ok || d.error.rfind(name + ": ", 0) != 0 || d.error.find(needle) == std::string::npos) {
    ++g_failures;
    std::cerr << "expected an error for buffer " << name << " containing \"" << needle << "\", got "
              << (d.ok ? "ok" : d.error) << "\n";
  }
}

void test_buffer_errors() {
  expect_buffer_error("", "empty.wav", "empty buffer (0 bytes)");
  AudioBuffer null_buffer;  // no bytes at all (a detached ArrayBuffer reads so)
  null_buffer.name = "nothing";
  const auto n = decode_buffer(null_buffer, opts(16000, 10));
  EXPECT(!n.ok && n.error == "nothing: empty buffer (0 bytes)");
  std::string junk;
  std::mt19937 rng(21);
  for (int i = 0; i < 5000; ++i) junk.push_back(static_cast<char>(rng()));
  expect_buffer_error(junk, "junk upload", "not a readable audio file");
  expect_buffer_error(junk.substr(0, 3), "tiny", "not a readable audio file");

  // A WAV cut short: its data chunk announces more bytes than the buffer holds.
  const std::string wav = file("cut_src.wav");
  write_wav(wav, {}, pcm16_bytes(random_pcm(20000, 22)));
  const std::string whole = read_bytes(wav);
  expect_buffer_error(whole.substr(0, 5000), "cut.wav", "truncated (data chunk announces 40000 bytes, only 4956 present)");
  expect_buffer_error(whole.substr(0, 44), "header only", "truncated");
  // The same bytes as a file give the same message (apart from the name).
  const std::string cut = file("cut_mem.wav");
  std::ofstream(cut, std::ios::binary) << whole.substr(0, 5000);
  const auto fd = decode_clip(cut, opts(16000, 1000));
  const auto md = decode_buffer(buffer_of(whole.substr(0, 5000), cut), opts(16000, 1000));
  EXPECT(!fd.ok && fd.error == md.error);

  // A cut FLAC announces frames it cannot deliver.
  const std::string flac = file("cut_src.flac");
  write_sndfile(flac, SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 16000, random_pcm(20000, 23));
  const std::string fb = read_bytes(flac);
  expect_buffer_error(fb.substr(0, fb.size() / 2), "half.flac", "", opts(16000, 20000));

  // NaN samples and `far` on mono are named too.
  WavSpec fl;
  fl.bits = 32;
  fl.fmt = 3;
  auto xs = sine(16000, 440, 0.5, 2000);
  xs[70] = NAN;
  write_wav(file("nan_mem.wav"), fl, float_bytes(xs));
  expect_buffer_error(read_bytes(file("nan_mem.wav")), "nan", "NaN sample at frame 70");
  expect_buffer_error(whole, "mono", "mono audio has no far channel", opts(16000, 100, Channel::kFar));
  EXPECT_THROWS(std::invalid_argument, "length", decode_buffer(buffer_of(whole, "x"), opts(16000, 0)));
}

void test_buffer_batch() {
  const std::string good = read_bytes(file("mem16k.wav")), flac = read_bytes(file("mem.flac"));
  const std::vector<AudioBuffer> buffers = {buffer_of(good, "a"), buffer_of("", "b"), buffer_of(flac, "c"),
                                            buffer_of("RIFF", "d")};
  std::vector<int64_t> seen;
  asd::RunContext ctx;
  ctx.progress = [&](int64_t done, int64_t total) {
    EXPECT(total == 4);
    seen.push_back(done);
  };
  auto b = asd::audio::decode_buffers(buffers, opts(16000, 3000), ctx, 3);
  EXPECT(b.files.size() == 4 && b.wave.size(0) == 2 && b.wave.size(1) == 3000);
  EXPECT(b.files[0].ok && !b.files[1].ok && b.files[2].ok && !b.files[3].ok);
  EXPECT(b.files[1].error.rfind("b: ", 0) == 0 && b.files[3].error.rfind("d: ", 0) == 0);
  EXPECT(seen.size() == 4 && seen.back() == 4);
  auto files = asd::audio::decode_batch({file("mem16k.wav"), file("mem.flac")}, opts(16000, 3000), asd::RunContext{}, 2);
  EXPECT(torch::equal(b.wave, files.wave));
  asd::CancelToken token;
  token.cancel();
  ctx.cancel = &token;
  EXPECT_THROWS(asd::Cancelled, "aborted", asd::audio::decode_buffers(buffers, opts(16000, 3000), ctx, 2));
}

// Subtract/both: two rows, each the one-channel decode of its channel (resampled on its own).
void test_two_channels() {
  // 44.1 kHz float stereo, a different sine per channel: rows must carry each channel's tone.
  const int sr = 44100;
  const double near_hz = 440, far_hz = 1500;
  const auto a = sine(sr, near_hz, 0.5, 2 * sr), b = sine(sr, far_hz, 0.25, 2 * sr);
  std::vector<float> inter;
  for (size_t i = 0; i < a.size(); ++i) inter.insert(inter.end(), {a[i], b[i]});
  WavSpec spec;
  spec.sr = sr;
  spec.channels = 2;
  spec.bits = 32;
  spec.fmt = 3;
  const std::string p = file("two44k.wav");
  write_wav(p, spec, float_bytes(inter));
  for (int64_t length : {16000, 32000, 50000}) {  // crop, whole, tile
    const auto near = decode_clip(p, opts(16000, length, Channel::kNear));
    const auto far = decode_clip(p, opts(16000, length, Channel::kFar));
    EXPECT(near.ok && far.ok);
    for (Channel ch : {Channel::kSubtract, Channel::kBoth}) {
      const auto d = decode_clip(p, opts(16000, length, ch));
      EXPECT(d.ok && d.channels == 2 && d.sample_rate == sr && d.frames == 2 * sr);
      EXPECT(d.wave.sizes() == torch::IntArrayRef({2, length}));
      EXPECT(torch::equal(d.wave[0], near.wave) && torch::equal(d.wave[1], far.wave));
      EXPECT(d.frames_read == near.frames_read);
    }
  }
  const auto d = decode_clip(p, opts(16000, 32000, Channel::kBoth));
  const torch::Tensor mid = d.wave.narrow(1, 8000, 16000);  // away from both edges
  EXPECT(std::fabs(peak_hz(mid[0], 16000) - near_hz) < 1e-9 && std::fabs(peak_hz(mid[1], 16000) - far_hz) < 1e-9);
  EXPECT(std::fabs(level_db(mid[0], 0.5)) < 0.1 && std::fabs(level_db(mid[1], 0.25)) < 0.1);

  // 16 kHz 16-bit: no resampling, each row exactly its channel's int16/32768, tiled.
  const auto x = random_pcm(3000, 41), y = random_pcm(3000, 42);
  std::vector<int16_t> pcm;
  for (size_t i = 0; i < x.size(); ++i) pcm.insert(pcm.end(), {x[i], y[i]});
  WavSpec s16;
  s16.channels = 2;
  const std::string q = file("two16k.wav");
  write_wav(q, s16, pcm16_bytes(pcm));
  const auto e = decode_clip(q, opts(16000, 7000, Channel::kSubtract));
  bool exact = e.ok;
  for (int64_t i = 0; exact && i < 7000; ++i) {
    exact = e.wave[0][i].item<float>() == x[static_cast<size_t>(i % 3000)] / 32768.0f &&
            e.wave[1][i].item<float>() == y[static_cast<size_t>(i % 3000)] / 32768.0f;
  }
  EXPECT(exact);
  EXPECT(torch::equal(e.wave, asd::audio::crop_or_tile(asd::audio::read_wav(q, Channel::kBoth), 7000)));

  // A mono file has no second channel: an entry naming it, alone in a batch of good files.
  const std::string mono = file("mono_for_both.wav");
  write_wav(mono, {}, pcm16_bytes(random_pcm(2000, 43)));
  for (Channel ch : {Channel::kSubtract, Channel::kBoth}) {
    const auto bad = decode_clip(mono, opts(16000, 100, ch));
    EXPECT(!bad.ok && bad.error.rfind(mono + ": mono audio has no far channel", 0) == 0 && bad.channels == 1);
  }
  const auto batch = asd::audio::decode_batch({p, mono, q}, opts(16000, 5000, Channel::kBoth), asd::RunContext{}, 2);
  EXPECT(batch.wave.sizes() == torch::IntArrayRef({2, 2, 5000}));
  EXPECT(batch.files[0].ok && !batch.files[1].ok && batch.files[2].ok);
  EXPECT(batch.files[1].error.rfind(mono + ": ", 0) == 0);
  EXPECT(torch::equal(batch.wave[0], decode_clip(p, opts(16000, 5000, Channel::kBoth)).wave));
  EXPECT(torch::equal(batch.wave[1], decode_clip(q, opts(16000, 5000, Channel::kBoth)).wave));
  // The same from bytes in memory.
  expect_same_as_file(p, opts(16000, 20000, Channel::kBoth));
  expect_buffer_error(read_bytes(mono), "upload.wav", "mono audio has no far channel", opts(16000, 100, Channel::kSubtract));
}

}  // namespace

int main() {
  fs::create_directories(kDir);
  const int rc = run_tests({{"pcm16_matches_read_wav", test_pcm16_matches_read_wav},
                            {"channels", test_channels},
                            {"resampling", test_resampling},
                            {"tiling_and_bounded_reads", test_tiling_and_bounded_reads},
                            {"flac_and_ogg", test_flac_and_ogg},
                            {"errors", test_errors},
                            {"batch", test_batch},
                            {"memory_matches_files", test_memory_matches_files},
                            {"buffer_errors", test_buffer_errors},
                            {"buffer_batch", test_buffer_batch},
                            {"two_channels", test_two_channels}});
  fs::remove_all(kDir);
  return rc;
}
