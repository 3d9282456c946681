// The restricted unpickler's stack machine (private to engine/io): its value model and
// the state shared by restricted_unpickler.cpp (stack, memo, containers) and
// unpickler_ops.cpp (the opcode loop, globals, REDUCE and persistent ids).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "io/restricted_unpickler.h"

namespace lectern::io {

enum class Kind : uint8_t {
    None,
    Bool,
    Int,
    Float,
    Str,
    Tuple,
    List,
    Dict,
    Global,
    Storage,
    Tensor
};
const char* kindName(Kind k);

// The only globals a state dict names; anything else is refused at GLOBAL time.
enum class Callable : int64_t { OrderedDict, RebuildTensorV2, RebuildParameter, StorageType };

struct Value {
    Kind kind = Kind::None;
    int64_t i = 0;                // Bool, Int; Global: Callable; Tensor: index into tensors_
    double f = 0;                 // Float
    std::string s;                // Str; Global: "module.name"; Storage: key
    std::vector<uint32_t> items;  // Tuple, List; Dict: key, value, key, value, ...
    DType dtype = DType::F32;     // Global StorageType, Storage
};

constexpr size_t kMaxMarks = 1000;     // nesting of MARKs; a state dict needs 3
constexpr size_t kMaxMemo = 1u << 22;  // memo entries
constexpr size_t kMaxRankPickle = 16;  // tensor rank

class Machine {
public:
    Machine(const uint8_t* data, size_t size, std::string name)
        : data_(data), size_(size), name_(std::move(name)) {}
    Expected<PickledStateDict> run();

private:
    friend Expected<PickledStateDict> unpickleStateDict(const uint8_t*, size_t, const std::string&);
    Status step(uint8_t op, bool* stop);
    Status stepMore(uint8_t op);
    Status fail(const std::string& message) const;
    Status need(size_t n) const;
    uint64_t readLE(int n);
    uint32_t make(Value v);
    Expected<uint32_t> pop();
    Expected<uint32_t> top() const;
    Expected<std::vector<uint32_t>> popToMark();
    Status pushString(size_t len);
    Status pushInt(int64_t i, Kind kind);
    Status pushLong1();
    Status makeTuple(std::vector<uint32_t> items);
    Status memoPut(uint64_t index);
    Status memoGet(uint64_t index);
    Status addItems(uint32_t target, const std::vector<uint32_t>& items, bool pairs);
    Status setItems(bool one);
    Status appendItems(bool one);
    Status build();
    Status global(const std::string& module, const std::string& qualname);
    Status globalFromLines();
    Status stackGlobal();
    Status reduce();
    Status persistentLoad();
    Expected<uint32_t> rebuildTensor(const Value& args);
    Status readDims(const Value& tuple, const char* what, std::vector<int64_t>* out) const;
    Expected<PickledStateDict> finish(uint32_t top);

    const uint8_t* data_;
    size_t size_;
    std::string name_;
    size_t pos_ = 0;
    size_t opPos_ = 0;
    std::vector<Value> arena_;
    std::vector<uint32_t> stack_;
    std::vector<size_t> marks_;
    std::unordered_map<uint64_t, uint32_t> memo_;
    std::vector<PickledTensor> tensors_;
    std::map<std::string, PickledStorage> storages_;
};

}  // namespace lectern::io
