// SurprisePanel: look-up or computation on the engine thread; the ranked list and the
// overlay are built from the spans the service stored.
#include "surprise/surprise_panel.h"

#include <QFileInfo>
#include <QHeaderView>
#include <QLabel>
#include <QPointer>
#include <QPushButton>
#include <QTreeWidget>
#include <QVBoxLayout>

#include "engine/engine_services.h"

namespace lectern::ui {

struct SurprisePanel::Loaded {
    QString error;
    bool found = false, computed = false, hasPages = false;
    double meanBits = 0, seconds = 0;
    std::vector<services::SurpriseSpan> top, overlay;
};

namespace {

enum Roles { TargetPage = Qt::UserRole, TargetLineStart, TargetLineEnd };

// Spans' mean bits scaled to 0..1 between the document's lowest and highest.
QHash<int, double> tints(const std::vector<services::SurpriseSpan>& spans, bool byPage) {
    QHash<int, double> out;
    if (spans.empty()) return out;
    double lo = spans.front().meanBits, hi = lo;
    for (const auto& s : spans) lo = std::min(lo, s.meanBits), hi = std::max(hi, s.meanBits);
    const double range = std::max(1e-9, hi - lo);
    for (const auto& s : spans) {
        if (s.tokens == 0) continue;
        const double v = (s.meanBits - lo) / range;
        if (byPage)
            out[int(s.page)] = v;
        else
            for (int64_t l = s.lineStart; l <= s.lineEnd && l > 0; ++l)
                out[int(l)] = std::max(out.value(int(l)), v);
    }
    return out;
}

QString where(const services::SurpriseSpan& s) {
    if (s.unit == services::SurpriseUnit::Page) return QObject::tr("page %1").arg(s.page);
    QString lines = s.lineEnd > s.lineStart
                        ? QObject::tr("lines %1–%2").arg(s.lineStart).arg(s.lineEnd)
                        : QObject::tr("line %1").arg(s.lineStart);
    return s.page > 0 ? QObject::tr("page %1, %2").arg(s.page).arg(lines) : lines;
}

}  // namespace

SurprisePanel::SurprisePanel(QWidget* parent) : QWidget(parent) {
    ranked_ = new QTreeWidget(this);
    ranked_->setAccessibleName(tr("Most surprising passages"));
    ranked_->setHeaderLabels({tr("Where"), tr("Bits/token"), tr("Tokens")});
    ranked_->setRootIsDecorated(false);
    ranked_->header()->setStretchLastSection(true);
    compute_ = new QPushButton(tr("Compute the surprise map of this document"), this);
    compute_->setAccessibleName(tr("Compute surprise"));
    status_ = new QLabel(this);
    status_->setWordWrap(true);
    status_->setAccessibleName(tr("Surprise status"));
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(compute_);
    layout->addWidget(ranked_, 1);
    layout->addWidget(status_);
    status_->setText(tr("Open a document to see its surprise map."));
    connect(compute_, &QPushButton::clicked, this, [this] {
        if (busy()) {
            cancel_->store(true);
        } else {
            compute();
        }
    });
    connect(ranked_, &QTreeWidget::itemActivated, this, [this](QTreeWidgetItem* item, int) {
        JumpTarget t;
        t.documentId = doc_.id;
        t.page = item->data(0, TargetPage).toInt();
        t.lineStart = item->data(0, TargetLineStart).toInt();
        t.lineEnd = item->data(0, TargetLineEnd).toInt();
        emit spanActivated(t);
    });
}

QString SurprisePanel::statusText() const {
    return status_->text();
}

void SurprisePanel::setDocument(const store::DocumentInfo& doc) {
    if (doc.id == doc_.id && ranked_->topLevelItemCount() > 0) return;
    doc_ = doc;
    ranked_->clear();
    emit overlayChanged({}, {});
    load(false);
}

void SurprisePanel::compute() {
    load(true);
}

void SurprisePanel::load(bool computeIfMissing) {
    if (!available() || doc_.id <= 0) return;
    const QString name = QFileInfo(QString::fromStdString(doc_.path)).fileName();
    if (!services_->hasModel()) {
        status_->setText(
            tr("%1: load a model in the Engine panel to compute its surprise map.").arg(name));
        return;
    }
    const int generation = ++generation_;
    cancel_ = computeIfMissing ? std::make_shared<std::atomic<bool>>(false) : nullptr;
    if (computeIfMissing) {
        compute_->setText(tr("Stop"));
        status_->setText(tr("%1: reading the document for its surprise map…").arg(name));
    }
    auto flag = cancel_;
    const int64_t documentId = doc_.id;
    const bool pdf = doc_.kind == "pdf";
    QPointer<SurprisePanel> self(this);
    services_->run([=](ServicesContext* c, const QString& error) {
        auto r = std::make_shared<Loaded>();
        if (!c) {
            r->error = error;
        } else {
            store::Db& db = c->store->database();
            services::SurpriseRun run;
            if (computeIfMissing) {
                services::SurpriseRequest request;
                request.documentId = documentId;
                request.cancel = flag.get();
                auto done = services::surpriseEnsure(*c->cache, db, request);
                if (!done)
                    r->error = QString::fromStdString(done.error());
                else {
                    run = done->run;
                    r->found = true;
                    r->computed = done->computed;
                    r->seconds = done->seconds;
                }
            } else {
                auto found = services::surpriseFind(db, documentId, services::modelIdOf(*c->model));
                if (!found)
                    r->error = QString::fromStdString(found.error());
                else if (*found) {
                    run = **found;
                    r->found = true;
                }
            }
            if (r->found) {
                r->meanBits = run.meanBits;
                auto pages = services::surpriseSpans(db, run.id, services::SurpriseUnit::Page);
                r->hasPages = pages && !pages->empty();
                const auto rankUnit =
                    pdf ? services::SurpriseUnit::Sentence : services::SurpriseUnit::Line;
                auto top = services::surpriseSpans(db, run.id, rankUnit, 30, 4);
                auto overlay = services::surpriseSpans(
                    db, run.id, pdf ? services::SurpriseUnit::Page : services::SurpriseUnit::Line);
                if (!top || !overlay) {
                    r->error = QString::fromStdString(!top ? top.error() : overlay.error());
                } else {
                    r->top = std::move(*top);
                    r->overlay = std::move(*overlay);
                }
            }
        }
        if (!self) return;
        QMetaObject::invokeMethod(
            self,
            [self, generation, r] {
                if (self) self->show(generation, r);
            },
            Qt::QueuedConnection);
    });
}

void SurprisePanel::show(int generation, const std::shared_ptr<Loaded>& r) {
    if (generation != generation_) return;
    cancel_.reset();
    compute_->setText(tr("Compute the surprise map of this document"));
    const QString name = QFileInfo(QString::fromStdString(doc_.path)).fileName();
    ranked_->clear();
    if (!r->error.isEmpty()) {
        status_->setText(tr("%1: no surprise map: %2").arg(name, r->error));
        emit loaded(false);
        return;
    }
    if (!r->found) {
        status_->setText(
            tr("%1: no surprise map for this model yet (Compute makes one).").arg(name));
        emit loaded(false);
        return;
    }
    for (const services::SurpriseSpan& s : r->top) {
        auto* item = new QTreeWidgetItem(ranked_);
        item->setText(0, where(s));
        item->setText(1, QString::number(s.meanBits, 'f', 2));
        item->setText(2, QString::number(s.tokens));
        item->setData(0, TargetPage, int(s.page));
        item->setData(0, TargetLineStart, int(s.lineStart));
        item->setData(0, TargetLineEnd, int(s.lineEnd));
    }
    ranked_->resizeColumnToContents(0);
    const bool pdf = doc_.kind == "pdf";
    emit overlayChanged(pdf ? tints(r->overlay, true) : QHash<int, double>{},
                        pdf ? QHash<int, double>{} : tints(r->overlay, false));
    status_->setText(
        tr("%1: %2 bits per token on average%3. Redder is more surprising.")
            .arg(name)
            .arg(r->meanBits, 0, 'f', 2)
            .arg(r->computed ? tr(" (computed in %1 s)").arg(r->seconds, 0, 'f', 1) : QString()));
    emit loaded(true);
}

}  // namespace lectern::ui
