// audio/pcm16_direct.h: 16-bit PCM WAV samples read straight from the data chunk, against
// libsndfile's sf_readf_float on the same file.
// - bit-identical to libsndfile for the layouts it takes (plain WAV mono and stereo, WAVEX, a
//   LIST chunk and an odd-sized chunk before the data), for the whole file and a range of frames,
//   from a path and from the bytes in memory; and it really takes them (returns true);
// - it declines (returns false) what it does not cover, so the caller reads through libsndfile:
//   24-bit, float, big-endian RIFX, RF64, a frame or channel count other than libsndfile's,
//   a range past the end, a missing file.
#include <sndfile.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "audio/pcm16_direct.h"
#include "expect.h"
#include "wav_fixture.h"

namespace fs = std::filesystem;
using asd::audio::detail::read_pcm16_direct;

namespace {

const std::string kDir = (fs::temp_directory_path() / "asdkit_pcm16_direct_test").string();

std::vector<float> reference(const std::string& path, SF_INFO& info) {
  info = SF_INFO{};
  SNDFILE* f = sf_open(path.c_str(), SFM_READ, &info);
  if (!f) return {};
  std::vector<float> out(static_cast<size_t>(info.frames * info.channels));
  sf_readf_float(f, out.data(), info.frames);
  sf_close(f);
  return out;
}

std::string write_sndfile(const std::string& name, int format, int channels, int64_t frames, bool with_strings) {
  const std::string path = kDir + "/" + name;
  SF_INFO info{};
  info.samplerate = 16000, info.channels = channels, info.format = format;
  SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
  EXPECT(f != nullptr);
  if (!f) return path;
  if (with_strings) sf_set_string(f, SF_STR_TITLE, "a title, so that a LIST chunk is written");
  const auto pcm = random_pcm(frames * channels, 7 + channels);
  sf_writef_short(f, pcm.data(), frames);
  sf_close(f);
  return path;
}

std::string bytes_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Bit-identical to libsndfile, whole and a range, from the path and from memory.
void expect_direct(const std::string& path) {
  SF_INFO info;
  const std::vector<float> ref = reference(path, info);
  const int64_t F = info.frames, C = info.channels;
  std::vector<float> got(ref.size(), -7.0f);
  EXPECT(read_pcm16_direct(path, F, C, 0, F, got.data()));
  EXPECT(got == ref);
  const int64_t first = F / 3, n = F / 4;
  std::vector<float> part(static_cast<size_t>(n * C));
  EXPECT(read_pcm16_direct(path, F, C, first, n, part.data()));
  EXPECT(std::equal(part.begin(), part.end(), ref.begin() + first * C));
  const std::string bytes = bytes_of(path);
  std::vector<float> mem(ref.size());
  EXPECT(read_pcm16_direct(reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int64_t>(bytes.size()), F, C, 0,
                           F, mem.data()));
  EXPECT(mem == ref);
}

void expect_declined(const std::string& path) {
  SF_INFO info;
  const std::vector<float> ref = reference(path, info);
  EXPECT(!ref.empty());
  std::vector<float> got(ref.size());
  EXPECT(!read_pcm16_direct(path, info.frames, info.channels, 0, info.frames, got.data()));
}

void test_layouts_it_reads() {
  expect_direct(write_sndfile("mono.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 1, 40001, false));
  expect_direct(write_sndfile("stereo.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 2, 9999, false));
  expect_direct(write_sndfile("wavex.wav", SF_FORMAT_WAVEX | SF_FORMAT_PCM_16, 2, 5000, false));
  expect_direct(write_sndfile("list.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 1, 3001, true));
  {  // an odd-sized chunk (padded to a word) between "fmt " and "data", written byte by byte
    const std::string plain = kDir + "/plain.wav";
    write_wav(plain, WavSpec{}, pcm16_bytes(random_pcm(2001, 3)));
    std::string b = bytes_of(plain);
    std::string junk = "junk";
    put32(junk, 3);
    junk += std::string("abc") + '\0';
    b.insert(36, junk);
    const uint32_t riff = static_cast<uint32_t>(b.size() - 8);
    for (int i = 0; i < 4; ++i) b[4 + i] = char((riff >> (8 * i)) & 0xff);
    const std::string odd = kDir + "/odd_chunk.wav";
    std::ofstream(odd, std::ios::binary) << b;
    expect_direct(odd);
  }
}

void test_what_it_declines() {
  expect_declined(write_sndfile("pcm24.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_24, 1, 1000, false));
  expect_declined(write_sndfile("float.wav", SF_FORMAT_WAV | SF_FORMAT_FLOAT, 1, 1000, false));
  expect_declined(write_sndfile("rifx.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16 | SF_ENDIAN_BIG, 1, 1000, false));
  expect_declined(write_sndfile("rf64.wav", SF_FORMAT_RF64 | SF_FORMAT_PCM_16, 1, 1000, false));
  const std::string path = write_sndfile("counts.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 2, 1000, false);
  std::vector<float> buf(4000);
  EXPECT(read_pcm16_direct(path, 1000, 2, 0, 1000, buf.data()));
  EXPECT(!read_pcm16_direct(path, 1001, 2, 0, 1000, buf.data()));  // frames other than the file's
  EXPECT(!read_pcm16_direct(path, 2000, 1, 0, 1000, buf.data()));  // channels other than the file's
  EXPECT(!read_pcm16_direct(path, 1000, 2, 900, 101, buf.data()));  // a range past the end
  EXPECT(!read_pcm16_direct(kDir + "/missing.wav", 1000, 2, 0, 10, buf.data()));
}

}  // namespace

int main() {
  fs::create_directories(kDir);
  const int rc = run_tests({{"layouts_it_reads", test_layouts_it_reads}, {"what_it_declines", test_what_it_declines}});
  fs::remove_all(kDir);
  return rc;
}
