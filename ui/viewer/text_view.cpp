// TextView: the gutter is a child widget painted by the view, kept in step through
// updateRequest; highlights are extra selections so the text stays untouched.
#include "viewer/text_view.h"

#include <QFontDatabase>
#include <QPaintEvent>
#include <QPainter>
#include <QScrollBar>
#include <QTextBlock>

namespace lectern::ui {
namespace {

class Gutter : public QWidget {
public:
    explicit Gutter(TextView* view) : QWidget(view), view_(view) {
        setAccessibleName(QStringLiteral("Line numbers"));
    }
    QSize sizeHint() const override { return {view_->gutterWidth(), 0}; }

protected:
    void paintEvent(QPaintEvent* event) override { view_->paintGutter(event); }

private:
    TextView* view_;
};

}  // namespace

TextView::TextView(QWidget* parent) : QPlainTextEdit(parent) {
    setReadOnly(true);
    setLineWrapMode(QPlainTextEdit::NoWrap);
    setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    setAccessibleName(tr("Document text"));
    gutter_ = new Gutter(this);
    connect(this, &QPlainTextEdit::blockCountChanged, this,
            [this] { setViewportMargins(gutterWidth(), 0, 0, 0); });
    connect(this, &QPlainTextEdit::updateRequest, this, [this](const QRect& rect, int dy) {
        if (dy)
            gutter_->scroll(0, dy);
        else
            gutter_->update(0, rect.y(), gutter_->width(), rect.height());
    });
    setViewportMargins(gutterWidth(), 0, 0, 0);
}

int TextView::gutterWidth() const {
    int digits = 1;
    for (int n = qMax(1, blockCount()); n >= 10; n /= 10) ++digits;
    return 12 + fontMetrics().horizontalAdvance(QLatin1Char('9')) * qMax(3, digits);
}

void TextView::resizeEvent(QResizeEvent* event) {
    QPlainTextEdit::resizeEvent(event);
    const QRect cr = contentsRect();
    gutter_->setGeometry(QRect(cr.left(), cr.top(), gutterWidth(), cr.height()));
}

void TextView::paintGutter(QPaintEvent* event) {
    QPainter p(gutter_);
    p.fillRect(event->rect(), palette().color(QPalette::AlternateBase));
    QTextBlock block = firstVisibleBlock();
    int number = block.blockNumber() + 1;
    int top = qRound(blockBoundingGeometry(block).translated(contentOffset()).top());
    int bottom = top + qRound(blockBoundingRect(block).height());
    p.setPen(palette().color(QPalette::PlaceholderText));
    while (block.isValid() && top <= event->rect().bottom()) {
        if (block.isVisible() && bottom >= event->rect().top()) {
            p.drawText(0, top, gutter_->width() - 6, fontMetrics().height(), Qt::AlignRight,
                       QString::number(number));
        }
        block = block.next();
        top = bottom;
        bottom = top + qRound(blockBoundingRect(block).height());
        ++number;
    }
}

int TextView::firstVisibleLine() const {
    return firstVisibleBlock().blockNumber() + 1;
}

void TextView::showLines(int first, int last) {
    first = qBound(1, first, qMax(1, blockCount()));
    last = qBound(first, last, qMax(1, blockCount()));
    highlightFirst_ = first;
    highlightLast_ = last;
    QTextCursor c(document()->findBlockByNumber(first - 1));
    setTextCursor(c);
    // Put the range a few lines below the top so its context shows.
    const int context = 3;
    QTextCursor top(document()->findBlockByNumber(qMax(0, first - 1 - context)));
    verticalScrollBar()->setValue(top.block().firstLineNumber());
    updateSelections();
}

void TextView::setLineTints(const QHash<int, double>& tints) {
    tints_ = tints;
    updateSelections();
}

void TextView::updateSelections() {
    QList<QTextEdit::ExtraSelection> selections;
    const QColor heat(230, 80, 40);
    for (auto it = tints_.cbegin(); it != tints_.cend(); ++it) {
        QTextEdit::ExtraSelection s;
        QColor c = heat;
        c.setAlphaF(float(0.08 + 0.45 * qBound(0.0, it.value(), 1.0)));
        s.format.setBackground(c);
        s.format.setProperty(QTextFormat::FullWidthSelection, true);
        s.cursor = QTextCursor(document()->findBlockByNumber(it.key() - 1));
        selections << s;
    }
    if (highlightFirst_ > 0) {
        const QColor mark = palette().color(QPalette::Highlight);
        for (int line = highlightFirst_; line <= highlightLast_; ++line) {
            QTextEdit::ExtraSelection s;
            QColor c = mark;
            c.setAlphaF(0.30f);
            s.format.setBackground(c);
            s.format.setProperty(QTextFormat::FullWidthSelection, true);
            s.cursor = QTextCursor(document()->findBlockByNumber(line - 1));
            selections << s;
        }
    }
    setExtraSelections(selections);
}

}  // namespace lectern::ui
