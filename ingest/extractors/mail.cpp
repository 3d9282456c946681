// E-mail through GMime 3 (mail.h). The parser reads the file through a GMimeStreamFs on
// our descriptor; attachments are decoded into a null stream only to count their bytes,
// so nothing is ever written to disk and no attachment name is ever used as a path.
#include "ingest/extractors/mail.h"

#include <gmime/gmime.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <mutex>

#include "ingest/extractors/binary_sniff.h"
#include "ingest/extractors/file_input.h"
#include "ingest/extractors/text_decode.h"
#include "ingest/extractors/text_stream.h"

namespace lectern::ingest {
namespace {

constexpr size_t kPieceBytes = size_t(64) << 10;

void initGMime() {
    static std::once_flag once;
    std::call_once(once, [] { g_mime_init(); });
}

template <typename T>
struct GUnref {
    void operator()(T* p) const {
        if (p) g_object_unref(p);
    }
};
template <typename T>
using GPtr = std::unique_ptr<T, GUnref<T>>;

struct GFreeString {
    void operator()(char* p) const { g_free(p); }
};
using GString_ = std::unique_ptr<char, GFreeString>;

// Valid NFC UTF-8 from whatever GMime hands back; counts what had to be replaced.
std::string clean(const char* s, int64_t* replaced) {
    if (!s) return {};
    DecodeStats stats;
    std::string out = decodeToUtf8(s, &stats, "UTF-8");
    *replaced += stats.replacedBytes;
    return out;
}

// Crude tag stripping for text/html parts without a text/plain twin: enough for search.
std::string stripTags(const std::string& html) {
    std::string out;
    bool inTag = false;
    for (const char c : html) {
        if (c == '<') {
            inTag = true;
        } else if (c == '>') {
            inTag = false;
            out += ' ';
        } else if (!inTag) {
            out += c;
        }
    }
    return out;
}

struct MessageText {
    std::string body, attachments;
    int64_t replaced = 0;
    int64_t attachmentCount = 0;
    bool sawPlain = false;
    std::string html;
};

void visitPart(GMimeObject*, GMimeObject* part, gpointer data) {
    auto& m = *static_cast<MessageText*>(data);
    if (!GMIME_IS_PART(part)) return;  // multiparts are walked by foreach itself
    GMimePart* leaf = GMIME_PART(part);
    GString_ mime(g_mime_content_type_get_mime_type(g_mime_object_get_content_type(part)));
    const std::string type = mime ? mime.get() : "application/octet-stream";
    const char* filename = g_mime_part_get_filename(leaf);
    if (GMIME_IS_TEXT_PART(part) && !filename && !g_mime_part_is_attachment(leaf)) {
        GString_ text(g_mime_text_part_get_text(GMIME_TEXT_PART(part)));
        const std::string t = clean(text.get(), &m.replaced);
        if (type == "text/html") {
            m.html += stripTags(t) + "\n";
        } else {
            m.sawPlain = true;
            m.body += t + "\n";
        }
        return;
    }
    // An attachment: its name is data. Count decoded bytes into a null stream.
    int64_t bytes = 0;
    if (GMimeDataWrapper* content = g_mime_part_get_content(leaf)) {
        GPtr<GMimeStream> sink(g_mime_stream_null_new());
        const ssize_t n = g_mime_data_wrapper_write_to_stream(content, sink.get());
        bytes = n > 0 ? n : 0;
    }
    ++m.attachmentCount;
    m.attachments += "Attachment: " + (filename ? clean(filename, &m.replaced) : "(unnamed)") +
                     " (" + type + ", " + std::to_string(bytes) + " bytes)\n";
}

std::string headerLine(const char* name, std::string value) {
    return value.empty() ? std::string() : std::string(name) + ": " + value + "\n";
}

std::string addresses(InternetAddressList* list, int64_t* replaced) {
    if (!list) return {};
    GString_ s(internet_address_list_to_string(list, nullptr, FALSE));
    return clean(s.get(), replaced);
}

// Renders one message and sends it as Message segments (pieces share ordinal and label).
bool emitMessage(GMimeMessage* msg, int64_t index, const SegmentSink& sink, ExtractResult& result,
                 int64_t* segments) {
    MessageText m;
    const std::string subject = clean(g_mime_message_get_subject(msg), &m.replaced);
    std::string text = headerLine("From", addresses(g_mime_message_get_from(msg), &m.replaced));
    text += headerLine("To", addresses(g_mime_message_get_to(msg), &m.replaced));
    text += headerLine("Cc", addresses(g_mime_message_get_cc(msg), &m.replaced));
    text +=
        headerLine("Date", clean(g_mime_object_get_header(GMIME_OBJECT(msg), "Date"), &m.replaced));
    text += headerLine("Subject", subject);
    g_mime_message_foreach(msg, visitPart, &m);
    text += "\n" + (m.sawPlain ? m.body : m.html) + m.attachments;
    result.replacedBytes += m.replaced;
    std::string_view rest = text;
    while (!rest.empty()) {
        const size_t cut = utf8CutPoint(rest, kPieceBytes);
        Segment seg;
        seg.kind = SegmentKind::Message;
        seg.ordinal = index;
        seg.label =
            subject.empty() ? "(no subject)" : subject.substr(0, utf8CutPoint(subject, 200));
        seg.text = std::string(rest.substr(0, cut));
        rest.remove_prefix(cut);
        ++*segments;
        if (!sink(std::move(seg))) return false;
    }
    return true;
}

bool looksLikeMbox(const std::filesystem::path& path, std::string_view head) {
    std::string ext = path.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(),
                   [](unsigned char c) { return char(std::tolower(c)); });
    return ext == ".mbox" || ext == ".mbx" || head.rfind("From ", 0) == 0;
}

}  // namespace

bool MailExtractor::accepts(const std::filesystem::path& path, const std::string& head) const {
    std::string ext = path.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(),
                   [](unsigned char c) { return char(std::tolower(c)); });
    return ext == ".eml" || ext == ".mbox" || ext == ".mbx" ||
           (ext.empty() && head.rfind("From ", 0) == 0 &&
            head.find("\nFrom:") != std::string::npos);
}

ExtractResult MailExtractor::extract(const ExtractRequest& request, const SegmentSink& sink) {
    ExtractResult result;
    result.meta.mimeType = "message/rfc822";
    FileInput input;
    if (!input.open(request.path, result)) return result;
    std::string head(FileInput::kHeadBytes, '\0');
    const ssize_t n = pread(input.fd(), head.data(), head.size(), 0);
    head.resize(n > 0 ? size_t(n) : 0);
    if (std::string why = sniffBinary(head); !why.empty()) {
        result.status = ExtractStatus::SkippedBinary;
        result.message = request.path.string() + ": binary content: " + why;
        return result;
    }
    initGMime();
    const bool mbox = looksLikeMbox(request.path, head);
    if (mbox) result.meta.mimeType = "application/mbox";
    GPtr<GMimeStream> stream(g_mime_stream_fs_new(input.fd()));
    g_mime_stream_fs_set_owner(GMIME_STREAM_FS(stream.get()), FALSE);  // FileInput closes it
    GPtr<GMimeParser> parser(g_mime_parser_new_with_stream(stream.get()));
    g_mime_parser_set_format(parser.get(), mbox ? GMIME_FORMAT_MBOX : GMIME_FORMAT_MESSAGE);
    int64_t messages = 0, segments = 0;
    while (!g_mime_parser_eos(parser.get())) {
        if (request.cancel && request.cancel->load()) {
            result.status = ExtractStatus::Partial;
            addWarning(result, request.path,
                       "cancelled after " + std::to_string(messages) + " messages");
            break;
        }
        GPtr<GMimeMessage> msg(g_mime_parser_construct_message(parser.get(), nullptr));
        if (!msg) break;
        ++messages;
        if (!emitMessage(msg.get(), messages, sink, result, &segments)) {
            result.status = ExtractStatus::Partial;
            addWarning(result, request.path, "stopped by the consumer");
            break;
        }
        if (!mbox) break;  // one .eml is one message; trailing bytes belong to it
    }
    result.segmentCount = segments;
    result.meta.extra["messages"] = std::to_string(messages);
    if (messages == 0 && result.status == ExtractStatus::Ok) {
        result.status = ExtractStatus::Error;
        result.message = request.path.string() + ": no e-mail message could be parsed";
    } else if (result.replacedBytes > 0) {
        addWarning(result, request.path,
                   std::to_string(result.replacedBytes) + " invalid bytes replaced by U+FFFD");
    }
    return result;
}

}  // namespace lectern::ingest
