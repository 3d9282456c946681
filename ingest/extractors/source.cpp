// Source files with language detection and exact line ranges (source.h).
#include "ingest/extractors/source.h"

#include <algorithm>
#include <cctype>
#include <unordered_map>

#include "ingest/extractors/text_stream.h"

namespace lectern::ingest {
namespace {

struct Language {
    const char* name;
    const char* mime;
};

const std::unordered_map<std::string, Language>& languagesByExtension() {
    static const std::unordered_map<std::string, Language> map = {
        {".c", {"C", "text/x-csrc"}},
        {".h", {"C", "text/x-chdr"}},
        {".cc", {"C++", "text/x-c++src"}},
        {".cpp", {"C++", "text/x-c++src"}},
        {".cxx", {"C++", "text/x-c++src"}},
        {".hpp", {"C++", "text/x-c++hdr"}},
        {".hh", {"C++", "text/x-c++hdr"}},
        {".hxx", {"C++", "text/x-c++hdr"}},
        {".ipp", {"C++", "text/x-c++hdr"}},
        {".inl", {"C++", "text/x-c++hdr"}},
        {".cu", {"CUDA", "text/x-cuda"}},
        {".cuh", {"CUDA", "text/x-cuda"}},
        {".py", {"Python", "text/x-python"}},
        {".pyi", {"Python", "text/x-python"}},
        {".rs", {"Rust", "text/rust"}},
        {".go", {"Go", "text/x-go"}},
        {".java", {"Java", "text/x-java"}},
        {".kt", {"Kotlin", "text/x-kotlin"}},
        {".scala", {"Scala", "text/x-scala"}},
        {".js", {"JavaScript", "text/javascript"}},
        {".mjs", {"JavaScript", "text/javascript"}},
        {".cjs", {"JavaScript", "text/javascript"}},
        {".jsx", {"JavaScript", "text/javascript"}},
        {".ts", {"TypeScript", "text/x-typescript"}},
        {".tsx", {"TypeScript", "text/x-typescript"}},
        {".rb", {"Ruby", "text/x-ruby"}},
        {".php", {"PHP", "text/x-php"}},
        {".pl", {"Perl", "text/x-perl"}},
        {".pm", {"Perl", "text/x-perl"}},
        {".lua", {"Lua", "text/x-lua"}},
        {".sh", {"Shell", "text/x-shellscript"}},
        {".bash", {"Shell", "text/x-shellscript"}},
        {".zsh", {"Shell", "text/x-shellscript"}},
        {".fish", {"Shell", "text/x-shellscript"}},
        {".ps1", {"PowerShell", "text/x-powershell"}},
        {".cs", {"C#", "text/x-csharp"}},
        {".fs", {"F#", "text/x-fsharp"}},
        {".swift", {"Swift", "text/x-swift"}},
        {".m", {"Objective-C", "text/x-objcsrc"}},
        {".mm", {"Objective-C++", "text/x-objcsrc"}},
        {".hs", {"Haskell", "text/x-haskell"}},
        {".ml", {"OCaml", "text/x-ocaml"}},
        {".ex", {"Elixir", "text/x-elixir"}},
        {".exs", {"Elixir", "text/x-elixir"}},
        {".erl", {"Erlang", "text/x-erlang"}},
        {".clj", {"Clojure", "text/x-clojure"}},
        {".el", {"Emacs Lisp", "text/x-elisp"}},
        {".lisp", {"Common Lisp", "text/x-lisp"}},
        {".scm", {"Scheme", "text/x-scheme"}},
        {".r", {"R", "text/x-r"}},
        {".jl", {"Julia", "text/x-julia"}},
        {".dart", {"Dart", "text/x-dart"}},
        {".zig", {"Zig", "text/x-zig"}},
        {".nim", {"Nim", "text/x-nim"}},
        {".v", {"Verilog", "text/x-verilog"}},
        {".sv", {"SystemVerilog", "text/x-verilog"}},
        {".vhd", {"VHDL", "text/x-vhdl"}},
        {".asm", {"Assembly", "text/x-asm"}},
        {".s", {"Assembly", "text/x-asm"}},
        {".sql", {"SQL", "text/x-sql"}},
        {".html", {"HTML", "text/html"}},
        {".htm", {"HTML", "text/html"}},
        {".css", {"CSS", "text/css"}},
        {".scss", {"SCSS", "text/x-scss"}},
        {".xml", {"XML", "text/xml"}},
        {".yaml", {"YAML", "text/yaml"}},
        {".yml", {"YAML", "text/yaml"}},
        {".toml", {"TOML", "text/x-toml"}},
        {".ini", {"INI", "text/x-ini"}},
        {".cfg", {"INI", "text/x-ini"}},
        {".cmake", {"CMake", "text/x-cmake"}},
        {".mk", {"Makefile", "text/x-makefile"}},
        {".proto", {"Protocol Buffers", "text/x-protobuf"}},
        {".tex", {"TeX", "text/x-tex"}},
        {".vim", {"Vim script", "text/x-vim"}},
        {".glsl", {"GLSL", "text/x-glsl"}},
        {".qml", {"QML", "text/x-qml"}},
        {".gradle", {"Groovy", "text/x-groovy"}},
        {".groovy", {"Groovy", "text/x-groovy"}},
        {".tf", {"HCL", "text/x-hcl"}},
    };
    return map;
}

const std::unordered_map<std::string, Language>& languagesByName() {
    static const std::unordered_map<std::string, Language> map = {
        {"Makefile", {"Makefile", "text/x-makefile"}},
        {"GNUmakefile", {"Makefile", "text/x-makefile"}},
        {"CMakeLists.txt", {"CMake", "text/x-cmake"}},
        {"Dockerfile", {"Dockerfile", "text/x-dockerfile"}},
        {"Containerfile", {"Dockerfile", "text/x-dockerfile"}},
        {"Jenkinsfile", {"Groovy", "text/x-groovy"}},
        {"Rakefile", {"Ruby", "text/x-ruby"}},
        {"Gemfile", {"Ruby", "text/x-ruby"}},
        {"meson.build", {"Meson", "text/x-meson"}},
        {"Kconfig", {"Kconfig", "text/x-kconfig"}},
        {"Kbuild", {"Makefile", "text/x-makefile"}},
    };
    return map;
}

const Language* lookup(const std::filesystem::path& path) {
    const auto& names = languagesByName();
    if (auto it = names.find(path.filename().string()); it != names.end()) return &it->second;
    std::string ext = path.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(),
                   [](unsigned char c) { return char(std::tolower(c)); });
    // ".C"/".H" are C++ by convention; lower-casing would make them C.
    if (path.extension() == ".C" || path.extension() == ".H") ext = ".cpp";
    const auto& exts = languagesByExtension();
    if (auto it = exts.find(ext); it != exts.end()) return &it->second;
    return nullptr;
}

}  // namespace

std::string languageForPath(const std::filesystem::path& path) {
    const Language* lang = lookup(path);
    return lang ? lang->name : std::string();
}

bool SourceExtractor::accepts(const std::filesystem::path& path, const std::string& head) const {
    if (lookup(path)) return true;
    // Extension-less scripts: "#!/usr/bin/env python3" and the like.
    return path.extension().empty() && head.rfind("#!", 0) == 0;
}

ExtractResult SourceExtractor::extract(const ExtractRequest& request, const SegmentSink& sink) {
    ExtractResult result;
    if (const Language* lang = lookup(request.path)) {
        result.meta.language = lang->name;
        result.meta.mimeType = lang->mime;
    } else {
        result.meta.language = "script";
        result.meta.mimeType = "text/plain";
    }
    SegmentBuilder builder(sink, SegmentKind::Lines);
    LineSplitter lines([&](std::string_view text, int64_t line, bool endsLine) {
        return builder.add(text, line, endsLine);
    });
    const bool ok =
        streamDecoded(request, result, [&](std::string_view text) { return lines.feed(text); });
    if (ok) {
        lines.finish();
        builder.flush();
        result.meta.extra["lines"] = std::to_string(lines.lines());
    } else if (builder.stopped()) {
        result.status = ExtractStatus::Partial;
        addWarning(result, request.path, "stopped by the consumer");
    }
    result.segmentCount = builder.segments();
    return result;
}

}  // namespace lectern::ingest
