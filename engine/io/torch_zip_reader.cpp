// torch.save zip -> TensorMap: find the archive's single top folder, check byteorder,
// unpickle data.pkl under the restricted unpickler, then read each storage once (CRC
// checked) and cut its tensors out of it, so the peak memory is the model plus one storage.
#include "io/torch_zip_reader.h"

#include <map>

#include "io/restricted_unpickler.h"
#include "io/zip_reader.h"

namespace lectern::io {

namespace {

Expected<std::string> topFolder(const ZipReader& zip, const std::string& an) {
    if (zip.entries().empty()) return Status::error(an + ": empty zip archive");
    const std::string& first = zip.entries().front().name;
    const auto slash = first.find('/');
    if (slash == std::string::npos)
        return Status::error(an + ": entry \"" + first + "\" is not in a folder");
    const std::string prefix = first.substr(0, slash + 1);
    for (const ZipEntry& e : zip.entries()) {
        if (e.name.compare(0, prefix.size(), prefix) != 0) {
            return Status::error(an + ": entries lie in more than one top folder (\"" + e.name +
                                 "\")");
        }
    }
    return prefix;
}

Expected<std::vector<uint8_t>> readEntry(const ZipReader& zip, const ZipEntry& e) {
    std::vector<uint8_t> bytes(size_t(e.size));  // e.size is bounded by the archive size
    if (Status s = zip.read(e, bytes.data()); !s) return s;
    return bytes;
}

}  // namespace

Expected<TensorMap> torchReadSource(const ByteSource& source) {
    const std::string& an = source.name();
    auto zip = ZipReader::open(source);
    if (!zip) return zip.status();
    auto prefix = topFolder(*zip, an);
    if (!prefix) return prefix.status();
    if (const ZipEntry* bo = zip->find(*prefix + "byteorder")) {
        auto order = readEntry(*zip, *bo);
        if (!order) return order.status();
        if (std::string(order->begin(), order->end()) != "little") {
            return Status::error(an + ": storages are not little-endian");
        }
    }
    const ZipEntry* pkl = zip->find(*prefix + "data.pkl");
    if (!pkl) return Status::error(an + ": no " + *prefix + "data.pkl (not a torch.save archive?)");
    auto pickle = readEntry(*zip, *pkl);
    if (!pickle) return pickle.status();
    auto dict = unpickleStateDict(pickle->data(), pickle->size(), an + ": " + pkl->name);
    if (!dict) return dict.status();

    std::map<std::string, std::vector<const std::pair<std::string, PickledTensor>*>> byStorage;
    for (const auto& entry : dict->tensors) byStorage[entry.second.storageKey].push_back(&entry);
    TensorMap out;
    for (const auto& [key, users] : byStorage) {
        const PickledStorage& st = dict->storages.at(key);
        const ZipEntry* e = zip->find(*prefix + "data/" + key);
        if (!e) return Status::error(an + ": storage '" + key + "' has no entry data/" + key);
        const uint64_t esize = uint64_t(dtypeSize(st.dtype));
        if (st.numel > e->size / esize || st.numel * esize != e->size) {
            return Status::error(an + ": storage '" + key + "' declares " +
                                 std::to_string(st.numel) + " elements of " + dtypeName(st.dtype) +
                                 " but its entry holds " + std::to_string(e->size) + " bytes");
        }
        auto bytes = readEntry(*zip, *e);
        if (!bytes) return bytes.status();
        for (const auto* user : users) {
            const PickledTensor& pt = user->second;
            RawTensor t;
            t.dtype = pt.dtype;
            t.shape = pt.shape;
            const auto begin = bytes->begin() + ptrdiff_t(pt.storageOffset * esize);
            t.bytes.assign(begin, begin + ptrdiff_t(uint64_t(t.numel()) * esize));
            out.emplace(user->first, std::move(t));
        }
    }
    return out;
}

Expected<TensorMap> torchReadStateDict(const std::string& path) {
    auto source = FileSource::open(path);
    if (!source) return source.status();
    return torchReadSource(**source);
}

Expected<TensorMap> torchParseStateDict(const uint8_t* data, size_t size, const std::string& name) {
    return torchReadSource(MemorySource(data, size, name));
}

}  // namespace lectern::io
