// DOCX and ODT markup to paragraphs (see office_xml.h). Paragraphs can nest (a DOCX text box
// inside a run, an ODT footnote body inside a paragraph), so open paragraphs are a stack and
// each is emitted when it closes. Alternative renderings (mc:Fallback) and deleted or
// annotation text are skipped so that nothing is read twice.
#include "ingest/extractors/office_xml.h"

#include <QRegularExpression>
#include <QString>
#include <QXmlStreamReader>

namespace lectern::ingest::office {
namespace {

const QString kWordNs =
    QStringLiteral("http://schemas.openxmlformats.org/wordprocessingml/2006/main");
const QString kTextNs = QStringLiteral("urn:oasis:names:tc:opendocument:xmlns:text:1.0");
const QString kOfficeNs = QStringLiteral("urn:oasis:names:tc:opendocument:xmlns:office:1.0");
const QString kCompatNs =
    QStringLiteral("http://schemas.openxmlformats.org/markup-compatibility/2006");

struct OpenParagraph {
    QString text;
    int level = 0;
};

class ParagraphStack {
public:
    void open(int level = 0) { stack_.push_back({QString(), level}); }
    bool inParagraph() const { return !stack_.empty(); }
    void append(const QString& s) {
        if (!stack_.empty()) stack_.back().text += s;
    }
    void setLevel(int level) {
        if (!stack_.empty()) stack_.back().level = level;
    }
    void close() {
        if (stack_.empty()) return;
        OpenParagraph p = std::move(stack_.back());
        stack_.pop_back();
        const QString text = p.text.simplified().normalized(QString::NormalizationForm_C);
        if (!text.isEmpty()) out_.paragraphs.push_back({text.toStdString(), p.level});
    }
    ParseOutcome finish(const QXmlStreamReader& xml, const char* part) {
        while (!stack_.empty()) close();  // keep the text of a cut-off paragraph
        if (xml.hasError()) {
            out_.error = std::string(part) + ": XML error at line " +
                         std::to_string(xml.lineNumber()) + " column " +
                         std::to_string(xml.columnNumber()) + ": " +
                         xml.errorString().toStdString();
        }
        return std::move(out_);
    }

private:
    std::vector<OpenParagraph> stack_;
    ParseOutcome out_;
};

int headingLevelOfName(const QString& name) {
    static const QRegularExpression heading(QStringLiteral("^heading\\s*([1-9])$"),
                                            QRegularExpression::CaseInsensitiveOption);
    const auto m = heading.match(name.trimmed());
    if (m.hasMatch()) return m.captured(1).toInt();
    return name.trimmed().compare(QStringLiteral("title"), Qt::CaseInsensitive) == 0 ? 1 : 0;
}

int outlineLevel(const QXmlStreamReader& xml) {
    bool ok = false;
    const int v = xml.attributes().value(kWordNs, QStringLiteral("val")).toInt(&ok);
    return ok && v >= 0 && v < 9 ? v + 1 : 0;
}

}  // namespace

std::map<std::string, int> docxHeadingStyles(const std::string& stylesXml) {
    std::map<std::string, int> levels;
    QXmlStreamReader xml(QByteArray::fromStdString(stylesXml));
    QString styleId;
    int level = 0;
    while (!xml.atEnd() && !xml.hasError()) {
        const auto token = xml.readNext();
        if (token == QXmlStreamReader::EndElement && xml.name() == u"style") {
            if (!styleId.isEmpty() && level > 0) levels[styleId.toStdString()] = level;
            styleId.clear();
            level = 0;
        }
        if (token != QXmlStreamReader::StartElement || xml.namespaceUri() != kWordNs) continue;
        if (xml.name() == u"style") {
            styleId = xml.attributes().value(kWordNs, QStringLiteral("styleId")).toString();
        } else if (xml.name() == u"name" && !styleId.isEmpty() && level == 0) {
            level = headingLevelOfName(
                xml.attributes().value(kWordNs, QStringLiteral("val")).toString());
        } else if (xml.name() == u"outlineLvl" && !styleId.isEmpty()) {
            level = outlineLevel(xml);
        }
    }
    return levels;
}

ParseOutcome parseDocx(const std::string& documentXml, const std::map<std::string, int>& styles) {
    QXmlStreamReader xml(QByteArray::fromStdString(documentXml));
    ParagraphStack paragraphs;
    while (!xml.atEnd() && !xml.hasError()) {
        const auto token = xml.readNext();
        if (token == QXmlStreamReader::EndElement && xml.namespaceUri() == kWordNs &&
            xml.name() == u"p") {
            paragraphs.close();
        }
        if (token != QXmlStreamReader::StartElement) continue;
        if (xml.namespaceUri() == kCompatNs && xml.name() == u"Fallback") {
            xml.skipCurrentElement();  // the same content as the mc:Choice already read
            continue;
        }
        if (xml.namespaceUri() != kWordNs) continue;
        const auto name = xml.name();
        if (name == u"p") {
            paragraphs.open();
        } else if (name == u"t") {
            paragraphs.append(xml.readElementText(QXmlStreamReader::IncludeChildElements));
        } else if (name == u"tab") {
            paragraphs.append(QStringLiteral("\t"));
        } else if (name == u"br" || name == u"cr") {
            paragraphs.append(QStringLiteral(" "));
        } else if (name == u"noBreakHyphen") {
            paragraphs.append(QStringLiteral("-"));
        } else if (name == u"pStyle") {
            const auto id = xml.attributes().value(kWordNs, QStringLiteral("val")).toString();
            const auto it = styles.find(id.toStdString());
            paragraphs.setLevel(it != styles.end()
                                    ? it->second
                                    : headingLevelOfName(QString(id).replace(
                                          QStringLiteral("Heading"), QStringLiteral("heading "))));
        } else if (name == u"outlineLvl") {
            paragraphs.setLevel(outlineLevel(xml));
        }
    }
    return paragraphs.finish(xml, "word/document.xml");
}

ParseOutcome parseOdt(const std::string& contentXml) {
    QXmlStreamReader xml(QByteArray::fromStdString(contentXml));
    ParagraphStack paragraphs;
    while (!xml.atEnd() && !xml.hasError()) {
        const auto token = xml.readNext();
        if (token == QXmlStreamReader::EndElement && xml.namespaceUri() == kTextNs &&
            (xml.name() == u"p" || xml.name() == u"h")) {
            paragraphs.close();
        } else if (token == QXmlStreamReader::Characters && paragraphs.inParagraph()) {
            paragraphs.append(xml.text().toString());
        }
        if (token != QXmlStreamReader::StartElement) continue;
        const auto name = xml.name();
        if (xml.namespaceUri() == kOfficeNs && name == u"annotation") {
            xml.skipCurrentElement();
            continue;
        }
        if (xml.namespaceUri() != kTextNs) continue;
        if (name == u"h") {
            bool ok = false;
            const int level =
                xml.attributes().value(kTextNs, QStringLiteral("outline-level")).toInt(&ok);
            paragraphs.open(ok && level >= 1 && level <= 9 ? level : 1);
        } else if (name == u"p") {
            const auto style = xml.attributes().value(kTextNs, QStringLiteral("style-name"));
            paragraphs.open(style == u"Title" ? 1 : 0);
        } else if (name == u"s") {
            bool ok = false;
            const int count = xml.attributes().value(kTextNs, QStringLiteral("c")).toInt(&ok);
            paragraphs.append(QString(ok && count > 0 && count < 1000 ? count : 1, QChar(' ')));
        } else if (name == u"tab") {
            paragraphs.append(QStringLiteral("\t"));
        } else if (name == u"line-break") {
            paragraphs.append(QStringLiteral(" "));
        } else if (name == u"tracked-changes" || name == u"note-citation") {
            xml.skipCurrentElement();  // deleted text and footnote marks are not content
        }
    }
    return paragraphs.finish(xml, "content.xml");
}

void parseOfficeMeta(const std::string& xmlText, std::string& title, std::string& author) {
    QXmlStreamReader xml(QByteArray::fromStdString(xmlText));
    while (!xml.atEnd() && !xml.hasError()) {
        if (xml.readNext() != QXmlStreamReader::StartElement) continue;
        const auto name = xml.name();
        if (name == u"title" && title.empty()) {
            title =
                xml.readElementText(QXmlStreamReader::SkipChildElements).simplified().toStdString();
        } else if ((name == u"creator" || name == u"initial-creator") && author.empty()) {
            author =
                xml.readElementText(QXmlStreamReader::SkipChildElements).simplified().toStdString();
        }
    }
}

}  // namespace lectern::ingest::office
