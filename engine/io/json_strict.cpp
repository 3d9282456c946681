// jsonParseStrict: nlohmann's parser with a callback that tracks each open object's keys
// (to refuse duplicates) and the depth (to refuse absurd nesting before it costs memory).
#include "io/json_strict.h"

#include <set>
#include <vector>

namespace lectern::io {

namespace {
struct StopParse {
    JsonError error;
    std::string message;
};
}  // namespace

JsonParseResult jsonParseStrict(const char* begin, const char* end, const JsonLimits& limits) {
    using json = nlohmann::json;
    JsonParseResult result;
    std::vector<std::set<std::string>> openObjects;
    std::vector<size_t> openArrays;  // element counts; SIZE_MAX marks an open object
    auto countElement = [&] {
        if (openArrays.empty() || openArrays.back() == SIZE_MAX) return;
        if (++openArrays.back() > limits.maxArrayLength) {
            throw StopParse{JsonError::TooLong,
                            "JSON array longer than " + std::to_string(limits.maxArrayLength)};
        }
    };
    auto callback = [&](int depth, json::parse_event_t event, json& parsed) {
        if (depth > limits.maxDepth) {
            throw StopParse{JsonError::TooDeep,
                            "JSON nested deeper than " + std::to_string(limits.maxDepth)};
        }
        switch (event) {
            case json::parse_event_t::array_start:
                countElement();
                openArrays.push_back(0);
                break;
            case json::parse_event_t::array_end:
                if (!openArrays.empty()) openArrays.pop_back();
                break;
            case json::parse_event_t::value:
                countElement();
                break;
            case json::parse_event_t::object_start:
                countElement();
                openArrays.push_back(SIZE_MAX);
                openObjects.emplace_back();
                break;
            case json::parse_event_t::object_end:
                if (!openObjects.empty()) openObjects.pop_back();
                if (!openArrays.empty()) openArrays.pop_back();
                break;
            case json::parse_event_t::key: {
                const auto& key = parsed.get_ref<const std::string&>();
                if (!openObjects.empty() && !openObjects.back().insert(key).second) {
                    throw StopParse{JsonError::DuplicateKey, "duplicate key \"" + key + "\""};
                }
                break;
            }
            default:
                break;
        }
        return true;
    };
    try {
        result.value = json::parse(begin, end, callback, /*allow_exceptions=*/true,
                                   /*ignore_comments=*/false);
    } catch (const StopParse& stop) {
        result.value = json();
        result.error = stop.error;
        result.message = stop.message;
    } catch (const json::exception& e) {
        result.value = json();
        result.error = JsonError::Invalid;
        result.message = std::string("invalid JSON: ") + e.what();
    } catch (const std::bad_alloc&) {
        result.value = json();
        result.error = JsonError::Invalid;
        result.message = "JSON too large to hold in memory";
    }
    return result;
}

}  // namespace lectern::io
