// libFuzzer target for document state files (FUZZ-1 fuzz_state_file): decoding any bytes
// against a fixed model expectation gives a state or an error naming the file; an accepted
// state has the expected shapes and encodes back to exactly the input bytes.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>

#include "io/state_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace lectern;
    // The same expectation as tests/fuzz/corpus/fuzz_state_file/valid.state.
    const io::StateExpectation ex{0x1234abcd5678ef00ull, StateShape{2, 2, 4, 8, 2, 2}, 16};
    auto r = io::stateDecode(std::span(data, size), "fuzz.state", ex);
    if (!r) {
        if (r.error().rfind("state fuzz.state ", 0) != 0) std::abort();
        return 0;
    }
    if (!(r->state.shape() == ex.shape) || r->state.position() < 0) std::abort();
    const std::string back = io::stateEncode(r->state, r->lastLogits, ex.identity);
    if (back.size() != size || std::memcmp(back.data(), data, size) != 0) std::abort();
    return 0;
}
