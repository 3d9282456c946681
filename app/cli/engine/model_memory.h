// `lectern-cli model memory DIR --text FILE`: how long each SSM head remembers on a text.
#pragma once

#include <cstdint>
#include <string>

namespace lectern::cli {

struct ModelMemoryArgs {
    std::string model, text;
    int64_t tokens = 8192;  // the first N bytes of the text (one sequence, fresh state)
};

int runModelMemory(const ModelMemoryArgs& a);

}  // namespace lectern::cli
