// The restricted unpickler's opcode loop: exactly the opcodes torch.save's protocol-2
// pickles use, plus the harmless protocol-4 forms (FRAME, MEMOIZE, SHORT_BINUNICODE,
// STACK_GLOBAL). Every other opcode (NEWOBJ, INST, OBJ, EXT*, protocol-5 buffers ...)
// is refused by name. Globals are matched against a fixed table and never resolved.
#include <cstring>

#include "io/unpickler_machine.h"

namespace lectern::io {

namespace {

struct AllowedGlobal {
    const char* module;
    const char* name;
    Callable callable;
    DType dtype;
};

const AllowedGlobal kAllowed[] = {
    {"collections", "OrderedDict", Callable::OrderedDict, DType::F32},
    {"torch._utils", "_rebuild_tensor_v2", Callable::RebuildTensorV2, DType::F32},
    {"torch._utils", "_rebuild_parameter", Callable::RebuildParameter, DType::F32},
    {"torch", "FloatStorage", Callable::StorageType, DType::F32},
    {"torch", "DoubleStorage", Callable::StorageType, DType::F64},
    {"torch", "HalfStorage", Callable::StorageType, DType::F16},
    {"torch", "BFloat16Storage", Callable::StorageType, DType::BF16},
    {"torch", "LongStorage", Callable::StorageType, DType::I64},
    {"torch", "IntStorage", Callable::StorageType, DType::I32},
    {"torch", "ShortStorage", Callable::StorageType, DType::I16},
    {"torch", "CharStorage", Callable::StorageType, DType::I8},
    {"torch", "ByteStorage", Callable::StorageType, DType::U8},
    {"torch", "BoolStorage", Callable::StorageType, DType::Bool},
};

}  // namespace

Status Machine::global(const std::string& module, const std::string& qualname) {
    for (const AllowedGlobal& g : kAllowed) {
        if (module == g.module && qualname == g.name) {
            Value v{Kind::Global};
            v.i = int64_t(g.callable);
            v.s = module + "." + qualname;
            v.dtype = g.dtype;
            stack_.push_back(make(std::move(v)));
            return Status::ok();
        }
    }
    return fail("global " + module + "." + qualname +
                " is not allowed (a state dict names only OrderedDict, torch._utils._rebuild_* "
                "and torch storage types); nothing was executed");
}

Status Machine::globalFromLines() {
    std::string parts[2];
    for (std::string& part : parts) {
        const void* nl = std::memchr(data_ + pos_, '\n', std::min<size_t>(size_ - pos_, 257));
        if (!nl) return fail("GLOBAL name missing its newline or longer than 256 bytes");
        const size_t len = size_t(static_cast<const uint8_t*>(nl) - (data_ + pos_));
        part.assign(reinterpret_cast<const char*>(data_ + pos_), len);
        pos_ += len + 1;
    }
    return global(parts[0], parts[1]);
}

Status Machine::stackGlobal() {
    auto qual = pop();
    if (!qual) return qual.status();
    auto module = pop();
    if (!module) return module.status();
    if (arena_[*qual].kind != Kind::Str || arena_[*module].kind != Kind::Str) {
        return fail("STACK_GLOBAL needs two strings");
    }
    return global(arena_[*module].s, arena_[*qual].s);
}

Status Machine::reduce() {
    auto args = pop();
    if (!args) return args.status();
    auto fn = pop();
    if (!fn) return fn.status();
    const Value& f = arena_[*fn];
    const Value& a = arena_[*args];
    if (f.kind != Kind::Global) return fail(std::string("REDUCE on a ") + kindName(f.kind));
    if (a.kind != Kind::Tuple) return fail("REDUCE arguments are not a tuple");
    switch (Callable(f.i)) {
        case Callable::OrderedDict:
            if (!a.items.empty()) return fail("OrderedDict called with arguments");
            stack_.push_back(make(Value{Kind::Dict}));
            return Status::ok();
        case Callable::RebuildTensorV2: {
            auto t = rebuildTensor(a);
            if (!t) return t.status();
            stack_.push_back(*t);
            return Status::ok();
        }
        case Callable::RebuildParameter:  // (tensor, requires_grad, backward_hooks)
            if (a.items.size() != 3 || arena_[a.items[0]].kind != Kind::Tensor) {
                return fail("_rebuild_parameter needs (tensor, requires_grad, hooks)");
            }
            stack_.push_back(a.items[0]);
            return Status::ok();
        case Callable::StorageType:
            break;
    }
    return fail(f.s + " may name a storage type but cannot be called");
}

Status Machine::persistentLoad() {
    auto pid = pop();
    if (!pid) return pid.status();
    const Value& t = arena_[*pid];
    // ('storage', torch.<Type>Storage, key, location, numel)
    if (t.kind != Kind::Tuple || t.items.size() != 5 || arena_[t.items[0]].kind != Kind::Str ||
        arena_[t.items[0]].s != "storage") {
        return fail("persistent id is not a ('storage', type, key, location, numel) tuple");
    }
    const Value& type = arena_[t.items[1]];
    const Value& key = arena_[t.items[2]];
    const Value& numel = arena_[t.items[4]];
    if (type.kind != Kind::Global || Callable(type.i) != Callable::StorageType ||
        key.kind != Kind::Str || arena_[t.items[3]].kind != Kind::Str || numel.kind != Kind::Int ||
        numel.i < 0) {
        return fail(
            "persistent id has the wrong types (storage type, str key, str location, int numel)");
    }
    auto [it, inserted] = storages_.emplace(key.s, PickledStorage{type.dtype, uint64_t(numel.i)});
    if (!inserted && (it->second.dtype != type.dtype || it->second.numel != uint64_t(numel.i))) {
        return fail("storage '" + key.s + "' is described twice, differently");
    }
    Value v{Kind::Storage};
    v.s = key.s;
    v.dtype = type.dtype;
    stack_.push_back(make(std::move(v)));
    return Status::ok();
}

Status Machine::readDims(const Value& tuple, const char* what, std::vector<int64_t>* out) const {
    if (tuple.kind != Kind::Tuple || tuple.items.size() > kMaxRankPickle) {
        return fail(std::string("tensor ") + what + " is not a tuple of at most 16 integers");
    }
    for (uint32_t item : tuple.items) {
        const Value& d = arena_[item];
        if (d.kind != Kind::Int || d.i < 0)
            return fail(std::string("tensor ") + what + " holds a non-integer or negative value");
        out->push_back(d.i);
    }
    return Status::ok();
}

// _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, hooks[, metadata])
Expected<uint32_t> Machine::rebuildTensor(const Value& a) {
    if (a.items.size() != 6 && a.items.size() != 7)
        return fail("_rebuild_tensor_v2 needs 6 or 7 arguments");
    const Value& storage = arena_[a.items[0]];
    const Value& offset = arena_[a.items[1]];
    if (storage.kind != Kind::Storage || offset.kind != Kind::Int || offset.i < 0) {
        return fail("_rebuild_tensor_v2 needs a storage and a non-negative offset");
    }
    const Value& hooks = arena_[a.items[5]];
    if (hooks.kind != Kind::Dict || !hooks.items.empty()) return fail("tensor with backward hooks");
    PickledTensor t;
    std::vector<int64_t> stride;
    if (Status s = readDims(arena_[a.items[2]], "size", &t.shape); !s) return s;
    if (Status s = readDims(arena_[a.items[3]], "stride", &stride); !s) return s;
    if (stride.size() != t.shape.size()) return fail("tensor size and stride differ in rank");
    uint64_t numel = 1;
    for (size_t k = t.shape.size(); k-- > 0;) {
        if (t.shape[k] > 1 && uint64_t(stride[k]) != numel) {
            return fail("tensor is not contiguous (only row-major tensors are supported)");
        }
        if (__builtin_mul_overflow(numel, uint64_t(t.shape[k]), &numel))
            return fail("tensor size overflows");
    }
    const PickledStorage& st = storages_.at(storage.s);
    if (uint64_t(offset.i) > st.numel || numel > st.numel - uint64_t(offset.i)) {
        return fail("tensor [offset " + std::to_string(offset.i) + ", " + std::to_string(numel) +
                    " elements] lies outside storage '" + storage.s + "' of " +
                    std::to_string(st.numel));
    }
    t.storageKey = storage.s;
    t.dtype = storage.dtype;
    t.storageOffset = uint64_t(offset.i);
    tensors_.push_back(std::move(t));
    Value v{Kind::Tensor};
    v.i = int64_t(tensors_.size() - 1);
    return make(std::move(v));
}

Expected<PickledStateDict> Machine::run() {
    bool stop = false;
    while (!stop) {
        opPos_ = pos_;
        if (pos_ >= size_) return fail("pickle ends without STOP");
        if (Status s = step(data_[pos_++], &stop); !s) return s;
    }
    if (stack_.size() != 1 || !marks_.empty())
        return fail("STOP with " + std::to_string(stack_.size()) + " values on the stack");
    return finish(stack_.back());
}

Status Machine::step(uint8_t op, bool* stop) {
    switch (op) {
        case 0x80: {  // PROTO
            if (Status s = need(1); !s) return s;
            const int proto = data_[pos_++];
            return proto >= 2 && proto <= 4
                       ? Status::ok()
                       : fail("pickle protocol " + std::to_string(proto) + " is not supported");
        }
        case '.':
            *stop = true;
            return Status::ok();  // STOP
        case '(':                 // MARK
            if (marks_.size() >= kMaxMarks) return fail("MARKs nested too deeply");
            marks_.push_back(stack_.size());
            return Status::ok();
        case '}':
            stack_.push_back(make(Value{Kind::Dict}));
            return Status::ok();  // EMPTY_DICT
        case ']':
            stack_.push_back(make(Value{Kind::List}));
            return Status::ok();  // EMPTY_LIST
        case ')':
            return makeTuple({});  // EMPTY_TUPLE
        case 'N':
            stack_.push_back(make(Value{Kind::None}));
            return Status::ok();  // NONE
        case 0x88:
            return pushInt(1, Kind::Bool);  // NEWTRUE
        case 0x89:
            return pushInt(0, Kind::Bool);  // NEWFALSE
        case 'K':
            return need(1) ? pushInt(int64_t(readLE(1)), Kind::Int) : need(1);
        case 'M':
            return need(2) ? pushInt(int64_t(readLE(2)), Kind::Int) : need(2);
        case 'J':
            return need(4) ? pushInt(int64_t(int32_t(uint32_t(readLE(4)))), Kind::Int) : need(4);
        case 0x8a:
            return pushLong1();
        case 'X':
            return need(4) ? pushString(size_t(readLE(4))) : need(4);  // BINUNICODE
        case 0x8c:
            return need(1) ? pushString(size_t(readLE(1))) : need(1);  // SHORT_BINUNICODE
        case 't': {                                                    // TUPLE
            auto items = popToMark();
            return items ? makeTuple(std::move(*items)) : items.status();
        }
        default:
            return stepMore(op);
    }
}

Status Machine::stepMore(uint8_t op) {
    switch (op) {
        case 0x85:
        case 0x86:
        case 0x87: {  // TUPLE1..3
            std::vector<uint32_t> items(size_t(op - 0x84));
            for (size_t k = items.size(); k-- > 0;) {
                auto v = pop();
                if (!v) return v.status();
                items[k] = *v;
            }
            return makeTuple(std::move(items));
        }
        case 'G': {  // BINFLOAT, big-endian
            if (Status s = need(8); !s) return s;
            uint64_t bits = 0;
            for (int k = 0; k < 8; ++k) bits = (bits << 8) | data_[pos_++];
            Value v{Kind::Float};
            std::memcpy(&v.f, &bits, 8);
            stack_.push_back(make(std::move(v)));
            return Status::ok();
        }
        case 'q':
            return need(1) ? memoPut(readLE(1)) : need(1);  // BINPUT
        case 'r':
            return need(4) ? memoPut(readLE(4)) : need(4);  // LONG_BINPUT
        case 'h':
            return need(1) ? memoGet(readLE(1)) : need(1);  // BINGET
        case 'j':
            return need(4) ? memoGet(readLE(4)) : need(4);  // LONG_BINGET
        case 0x94:
            return memoPut(memo_.size());  // MEMOIZE
        case 0x95:
            return need(8) ? (readLE(8), Status::ok()) : need(8);  // FRAME: length only
        case 's':
            return setItems(true);
        case 'u':
            return setItems(false);
        case 'a':
            return appendItems(true);
        case 'e':
            return appendItems(false);
        case 'b':
            return build();
        case 'R':
            return reduce();
        case 'Q':
            return persistentLoad();
        case 'c':
            return globalFromLines();
        case 0x93:
            return stackGlobal();
        default:
            break;
    }
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02x", op);
    return fail(std::string("pickle opcode ") + hex + " is not allowed in a state dict");
}

}  // namespace lectern::io
