// E-mail: single messages (.eml) and mailboxes (mbox), through GMime 3. Each message is
// one Message segment (ordinal = its index in the file, label = its subject) holding the
// From/To/Cc/Date/Subject headers, the decoded text parts, and one line per attachment
// naming it with its type and size. Attachments are never written anywhere.
#pragma once

#include "ingest/extractors/extractor.h"

namespace lectern::ingest {

class MailExtractor : public Extractor {
public:
    const char* name() const override { return "mail"; }
    bool accepts(const std::filesystem::path& path, const std::string& head) const override;
    ExtractResult extract(const ExtractRequest& request, const SegmentSink& sink) override;
};

}  // namespace lectern::ingest
