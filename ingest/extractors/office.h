// The office-document extractor: DOCX (word/document.xml) and ODT (content.xml), read from
// their zip container with libzip under zip-bomb limits, parsed with Qt's QXmlStreamReader.
// Headings and paragraphs are kept: each heading starts a Section segment labelled with the
// heading's text, and every paragraph is one line of the document's text (line ranges).
#pragma once

#include <memory>

#include "ingest/extractors/extractor.h"

namespace lectern::ingest {

std::unique_ptr<Extractor> makeOfficeExtractor();

}  // namespace lectern::ingest
