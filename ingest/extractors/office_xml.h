// XML side of the office extractor: DOCX and ODT markup to a list of paragraphs (with heading
// levels), and the title/author of their metadata parts. Qt's QXmlStreamReader never fetches
// external entities and caps internal entity expansion, so hostile XML stays bounded.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace lectern::ingest::office {

struct Paragraph {
    std::string text;  // UTF-8, NFC, one line (breaks become spaces)
    int level = 0;     // heading level 1..9, 0 for body text
};

struct ParseOutcome {
    std::vector<Paragraph> paragraphs;
    std::string error;  // XML error with line and column; paragraphs read before it are kept
};

// styles.xml of a DOCX: paragraph style id -> heading level (from names "heading N", "Title"
// and outline levels). Unreadable styles give an empty map: ids like "Heading2" still work.
std::map<std::string, int> docxHeadingStyles(const std::string& stylesXml);

ParseOutcome parseDocx(const std::string& documentXml, const std::map<std::string, int>& styles);
ParseOutcome parseOdt(const std::string& contentXml);

// dc:title and dc:creator (or meta:initial-creator) of docProps/core.xml or meta.xml.
void parseOfficeMeta(const std::string& xml, std::string& title, std::string& author);

}  // namespace lectern::ingest::office
