// Source and text documents: read-only, monospace, with a line-number gutter (the pattern
// of Qt's code editor example), a highlighted line range for jumps, and optional per-line
// background tints for the surprise overlay.
#pragma once

#include <QHash>
#include <QPlainTextEdit>

namespace lectern::ui {

class TextView : public QPlainTextEdit {
    Q_OBJECT
public:
    explicit TextView(QWidget* parent = nullptr);

    // Scrolls to 1-based lines [first, last] and highlights them.
    void showLines(int first, int last);
    int highlightedFirstLine() const { return highlightFirst_; }
    int firstVisibleLine() const;
    // Line (1-based) → tint strength 0..1; empty clears the overlay.
    void setLineTints(const QHash<int, double>& tints);

    int gutterWidth() const;
    void paintGutter(QPaintEvent* event);

protected:
    void resizeEvent(QResizeEvent* event) override;

private:
    void updateSelections();
    QWidget* gutter_ = nullptr;
    int highlightFirst_ = 0, highlightLast_ = 0;
    QHash<int, double> tints_;
};

}  // namespace lectern::ui
