// The restricted unpickler: a stack machine over an arena of plain values (no objects,
// no callables). "Calling" an allowed global (REDUCE) is interpreted here by name:
// OrderedDict() makes an empty dict, _rebuild_tensor_v2(...) makes a tensor description.
// Values live in an arena indexed by position, so memo references cannot form leaks or
// cycles, and the arena grows by at most one value per opcode read.
#include "io/restricted_unpickler.h"

#include <unordered_map>

#include "io/unpickler_machine.h"
#include "io/utf8.h"

namespace lectern::io {

const char* kindName(Kind k) {
    static const char* kNames[] = {"None", "bool", "int",    "float",   "str",   "tuple",
                                   "list", "dict", "global", "storage", "tensor"};
    return kNames[int(k)];
}

Status Machine::fail(const std::string& message) const {
    return Status::error(name_ + ": byte " + std::to_string(opPos_) + ": " + message);
}

uint32_t Machine::make(Value v) {
    arena_.push_back(std::move(v));
    return uint32_t(arena_.size() - 1);
}

Status Machine::need(size_t n) const {
    return size_ - pos_ >= n ? Status::ok()
                             : fail("truncated: needs " + std::to_string(n) + " more bytes");
}

uint64_t Machine::readLE(int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | data_[pos_ + size_t(i)];
    pos_ += size_t(n);
    return v;
}

Expected<uint32_t> Machine::pop() {
    const size_t floor = marks_.empty() ? 0 : marks_.back();
    if (stack_.size() <= floor) return fail("stack underflow");
    const uint32_t v = stack_.back();
    stack_.pop_back();
    return v;
}

Expected<std::vector<uint32_t>> Machine::popToMark() {
    if (marks_.empty()) return fail("no MARK on the stack");
    const size_t mark = marks_.back();
    marks_.pop_back();
    std::vector<uint32_t> items(stack_.begin() + ptrdiff_t(mark), stack_.end());
    stack_.resize(mark);
    return items;
}

Expected<uint32_t> Machine::top() const {
    const size_t floor = marks_.empty() ? 0 : marks_.back();
    if (stack_.size() <= floor) return fail("stack underflow");
    return stack_.back();
}

Status Machine::pushString(size_t len) {
    if (Status s = need(len); !s) return s;
    const char* p = reinterpret_cast<const char*>(data_ + pos_);
    if (!utf8Valid(p, len)) return fail("string is not valid UTF-8");
    Value v{Kind::Str};
    v.s.assign(p, len);
    pos_ += len;
    stack_.push_back(make(std::move(v)));
    return Status::ok();
}

Status Machine::pushInt(int64_t i, Kind kind) {
    Value v{kind};
    v.i = i;
    stack_.push_back(make(std::move(v)));
    return Status::ok();
}

Status Machine::pushLong1() {
    if (Status s = need(1); !s) return s;
    const int n = data_[pos_++];
    if (n > 8) return fail("integer of " + std::to_string(n) + " bytes is too large");
    if (Status s = need(size_t(n)); !s) return s;
    uint64_t raw = readLE(n);
    if (n > 0 && n < 8 && (raw >> (8 * n - 1)) & 1) raw |= ~uint64_t(0) << (8 * n);  // sign
    return pushInt(int64_t(raw), Kind::Int);
}

Status Machine::makeTuple(std::vector<uint32_t> items) {
    Value v{Kind::Tuple};
    v.items = std::move(items);
    stack_.push_back(make(std::move(v)));
    return Status::ok();
}

Status Machine::memoPut(uint64_t index) {
    auto value = top();
    if (!value) return value.status();
    if (memo_.size() >= kMaxMemo && !memo_.count(index)) return fail("too many memo entries");
    memo_[index] = *value;
    return Status::ok();
}

Status Machine::memoGet(uint64_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) return fail("memo index " + std::to_string(index) + " was never stored");
    stack_.push_back(it->second);
    return Status::ok();
}

Status Machine::addItems(uint32_t target, const std::vector<uint32_t>& items, bool pairs) {
    Value& t = arena_[target];
    const Kind want = pairs ? Kind::Dict : Kind::List;
    if (t.kind != want) {
        return fail(std::string(pairs ? "SETITEM(S)" : "APPEND(S)") + " on a " + kindName(t.kind) +
                    " (only a " + kindName(want) + " may be filled)");
    }
    if (pairs && items.size() % 2 != 0) return fail("SETITEMS with an odd number of items");
    t.items.insert(t.items.end(), items.begin(), items.end());
    return Status::ok();
}

Status Machine::setItems(bool one) {
    std::vector<uint32_t> items;
    if (one) {
        auto value = pop();
        if (!value) return value.status();
        auto key = pop();
        if (!key) return key.status();
        items = {*key, *value};
    } else {
        auto popped = popToMark();
        if (!popped) return popped.status();
        items = std::move(*popped);
    }
    auto target = top();
    return target ? addItems(*target, items, true) : target.status();
}

Status Machine::appendItems(bool one) {
    std::vector<uint32_t> items;
    if (one) {
        auto value = pop();
        if (!value) return value.status();
        items = {*value};
    } else {
        auto popped = popToMark();
        if (!popped) return popped.status();
        items = std::move(*popped);
    }
    auto target = top();
    return target ? addItems(*target, items, false) : target.status();
}

Status Machine::build() {
    auto state = pop();
    if (!state) return state.status();
    auto object = top();
    if (!object) return object.status();
    const Value& target = arena_[*object];
    const Value& st = arena_[*state];
    // torch.save sets an OrderedDict's _metadata through BUILD; that is the only use allowed.
    if (target.kind != Kind::Dict || (st.kind != Kind::Dict && st.kind != Kind::None)) {
        return fail(std::string("BUILD on a ") + kindName(target.kind) + " with a " +
                    kindName(st.kind) + " state is not allowed");
    }
    return Status::ok();
}

Expected<PickledStateDict> Machine::finish(uint32_t top) {
    const Value& dict = arena_[top];
    if (dict.kind != Kind::Dict) {
        return fail(std::string("the pickle holds a ") + kindName(dict.kind) +
                    ", not a state dict");
    }
    PickledStateDict out;
    out.storages = storages_;
    std::unordered_map<std::string, bool> seen;
    for (size_t i = 0; i + 1 < dict.items.size(); i += 2) {
        const Value& key = arena_[dict.items[i]];
        const Value& value = arena_[dict.items[i + 1]];
        if (key.kind != Kind::Str)
            return fail(std::string("state dict key is a ") + kindName(key.kind));
        if (value.kind != Kind::Tensor) {
            return fail("state dict entry '" + key.s + "' is a " + kindName(value.kind) +
                        ", not a tensor");
        }
        if (!seen.emplace(key.s, true).second)
            return fail("state dict names '" + key.s + "' twice");
        out.tensors.emplace_back(key.s, tensors_[size_t(value.i)]);
    }
    return out;
}

Expected<PickledStateDict> unpickleStateDict(const uint8_t* data, size_t size,
                                             const std::string& name) {
    Machine machine(data, size, name);
    return machine.run();
}

}  // namespace lectern::io
