// AskPanel: the question runs on the engine thread (EngineServices); answer text, state
// origin and progress come back as queued calls, tagged with a generation so a newer
// question's panel never shows an older answer. The answer is saved to the history on the
// engine thread too (its store connection), so the GUI thread never writes the store.
#include "ask/ask_panel.h"

#include <QComboBox>
#include <QDateTime>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QPointer>
#include <QPushButton>
#include <QSpinBox>
#include <QSplitter>
#include <QTextBrowser>
#include <QTreeWidget>
#include <QVBoxLayout>

#include "ask/ask_history_io.h"
#include "ask/ask_history_view.h"
#include "engine/engine_services.h"

namespace lectern::ui {

struct AskPanel::Outcome {
    QString error;
    std::vector<services::AskAnswer> answers;
    store::AskRecord record;  // as saved to the history (id 0: not saved)
    QString saveError;
};

namespace {

enum Roles { TargetPage = Qt::UserRole, TargetLineStart, TargetLineEnd, TargetDocument };

// Posts f to the panel's thread unless the panel is gone.
template <typename F>
void post(const QPointer<AskPanel>& panel, F f) {
    if (!panel) return;
    QMetaObject::invokeMethod(
        panel,
        [panel, f] {
            if (panel) f(panel.data());
        },
        Qt::QueuedConnection);
}

}  // namespace

AskPanel::AskPanel(QWidget* parent) : QWidget(parent) {
    scope_ = new QComboBox(this);
    scope_->setAccessibleName(tr("Ask about"));
    scope_->addItem(tr("the whole collection"), 0);
    question_ = new QLineEdit(this);
    question_->setPlaceholderText(tr("Ask a question about the material"));
    question_->setAccessibleName(tr("Question"));
    asOfPage_ = new QSpinBox(this);
    asOfPage_->setAccessibleName(tr("As of page"));
    asOfPage_->setToolTip(
        tr("Ask what the document says up to this page (the model reads no "
           "further)"));
    asOfPage_->setPrefix(tr("as of page "));
    asOfPage_->setSpecialValueText(tr("all pages"));
    asOfPage_->setRange(0, 0);
    asOfPage_->setEnabled(false);
    ask_ = new QPushButton(tr("Ask"), this);
    ask_->setAccessibleName(tr("Ask the question"));
    answer_ = new QTextBrowser(this);
    answer_->setAccessibleName(tr("Answer"));
    answer_->setPlaceholderText(tr("The answer appears here as it is generated."));
    passages_ = new QTreeWidget(this);
    passages_->setAccessibleName(tr("Passages that support the answer"));
    passages_->setHeaderLabels({tr("Document"), tr("Where"), tr("Passage")});
    passages_->setRootIsDecorated(false);
    passages_->header()->setStretchLastSection(true);
    history_ = new AskHistoryView(this);
    timings_ = new QLabel(this);
    timings_->setAccessibleName(tr("Answer timings"));
    timings_->setWordWrap(true);
    timings_->setForegroundRole(QPalette::PlaceholderText);
    status_ = new QLabel(this);
    status_->setWordWrap(true);
    status_->setAccessibleName(tr("Ask status"));

    // Scope and page on one row, the question with its button on the next, so the
    // question keeps its width however long the document's name is.
    scope_->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    scope_->setMinimumContentsLength(16);
    auto* scopeRow = new QHBoxLayout;
    scopeRow->addWidget(new QLabel(tr("About:"), this));
    scopeRow->addWidget(scope_, 1);
    scopeRow->addWidget(asOfPage_);
    auto* row = new QHBoxLayout;
    row->addWidget(question_, 1);
    row->addWidget(ask_);
    auto* split = new QSplitter(Qt::Vertical, this);
    split->addWidget(answer_);
    auto* passagesBox = new QWidget(split);
    auto* pl = new QVBoxLayout(passagesBox);
    pl->setContentsMargins(0, 0, 0, 0);
    auto* passagesLabel = new QLabel(tr("Passages that support it (found by search, not cited "
                                        "by the model):"),
                                     passagesBox);
    passagesLabel->setWordWrap(true);
    pl->addWidget(passagesLabel);
    pl->addWidget(passages_);
    split->addWidget(passagesBox);
    split->addWidget(history_);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 2);
    split->setStretchFactor(2, 1);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(scopeRow);
    layout->addLayout(row);
    layout->addWidget(split, 1);
    layout->addWidget(timings_);
    layout->addWidget(status_);

    connect(ask_, &QPushButton::clicked, this, [this] {
        if (busy())
            cancel();
        else
            ask(question_->text());
    });
    connect(question_, &QLineEdit::returnPressed, this, [this] {
        if (!busy()) ask(question_->text());
    });
    connect(history_, &AskHistoryView::recordActivated, this, &AskPanel::showRecord);
    connect(scope_, &QComboBox::currentIndexChanged, this, &AskPanel::scopeChanged);
    connect(passages_, &QTreeWidget::itemActivated, this, [this](QTreeWidgetItem* item, int) {
        JumpTarget t;
        t.documentId = item->data(0, TargetDocument).toLongLong();
        t.page = item->data(0, TargetPage).toInt();
        t.lineStart = item->data(0, TargetLineStart).toInt();
        t.lineEnd = item->data(0, TargetLineEnd).toInt();
        t.terms = question_->text();
        emit passageActivated(t);
    });
    status_->setText(tr("Load a model in the Engine panel, then ask."));
}

void AskPanel::showUnavailable(const QString& why) {
    status_->setText(tr("Not available: %1").arg(why));
}

void AskPanel::setStoreDir(const QString& storeDir) {
    if (storeDir == storeDir_) return;
    storeDir_ = storeDir;
    scopeChanged();
}

void AskPanel::setCollection(const QString& collection) {
    if (collection == collection_) return;
    collection_ = collection;
    scope_->setItemText(0, tr("the whole collection %1").arg(collection));
    scopeChanged();
}

void AskPanel::setDocument(qint64 documentId, const QString& name, int pageCount) {
    if (documentId == documentId_ && name == documentName_ && pageCount == pageCount_) return;
    documentId_ = documentId;
    documentName_ = name;
    pageCount_ = documentId > 0 ? pageCount : 0;
    QSignalBlocker block(scope_);
    while (scope_->count() > 1) scope_->removeItem(1);
    if (documentId > 0) {
        scope_->addItem(tr("this document: %1").arg(name), documentId);
        scope_->setCurrentIndex(1);
    }
    scopeChanged();
}

// The history and the as-of-page choice follow the scope: a document's own questions, or
// the whole collection's; pages only for a document that has them.
void AskPanel::scopeChanged() {
    const qint64 doc = scope_->currentData().toLongLong();
    const bool paged = doc > 0 && pageCount_ > 0;
    asOfPage_->setRange(0, paged ? pageCount_ : 0);
    asOfPage_->setEnabled(paged && !busy());
    if (!paged) asOfPage_->setValue(0);
    history_->setScope(storeDir_, collection_, doc > 0 ? doc : -1, documentName_);
}

void AskPanel::setAsOfPage(int page) {
    asOfPage_->setValue(page);
}

int AskPanel::asOfPage() const {
    return asOfPage_->value();  // the range is 0..0 unless the scope has pages
}

void AskPanel::focusQuestion() {
    question_->setFocus(Qt::ShortcutFocusReason);
}
QString AskPanel::answerText() const {
    return answer_->toPlainText();
}
QString AskPanel::statusText() const {
    return status_->text();
}
QString AskPanel::timingsText() const {
    return timings_->text();
}

void AskPanel::cancel() {
    if (cancel_) cancel_->store(true);
    status_->setText(tr("Stopping…"));
}

void AskPanel::setAsking(bool asking) {
    ask_->setText(asking ? tr("Stop") : tr("Ask"));
    ask_->setAccessibleName(asking ? tr("Stop the answer") : tr("Ask the question"));
    question_->setEnabled(!asking);
    scope_->setEnabled(!asking);
    asOfPage_->setEnabled(!asking && asOfPage_->maximum() > 0);
}

void AskPanel::appendAnswer(int generation, const QString& text) {
    if (generation != generation_) return;
    answer_->moveCursor(QTextCursor::End);
    answer_->insertPlainText(text);
}

void AskPanel::ask(const QString& question) {
    if (!available()) {
        showUnavailable(tr("this window has no engine services"));
        return;
    }
    if (question.trimmed().isEmpty() || busy()) return;
    if (!services_->hasModel()) {
        status_->setText(tr("No model is loaded: load one in the Engine panel first."));
        emit finished(false);
        return;
    }
    if (collection_.isEmpty()) {
        status_->setText(tr("Choose a collection in the library first."));
        emit finished(false);
        return;
    }
    answer_->clear();
    passages_->clear();
    timings_->clear();
    status_->setText(tr("Finding the state…"));
    setAsking(true);
    const int generation = ++generation_;
    cancel_ = std::make_shared<std::atomic<bool>>(false);
    auto flag = cancel_;
    const qint64 documentId = scope_->currentData().toLongLong();
    const int64_t asOf = documentId > 0 ? asOfPage() : 0;
    const std::string collection = collection_.toStdString(), text = question.toStdString();
    QPointer<AskPanel> self(this);
    services_->run([=](ServicesContext* c, const QString& error) {
        QElapsedTimer clock;
        clock.start();
        auto outcome = std::make_shared<Outcome>();
        int64_t collectionId = 0;
        if (!c) {
            outcome->error = error;
        } else {
            services::AskRequest request;
            request.collection = collection;
            request.documentId = documentId;
            request.asOfPage = asOf;
            request.questions = {text};
            auto id = c->store->findCollection(collection);
            if (!id || *id == 0) {
                outcome->error = id ? tr("no collection %1").arg(QString::fromStdString(collection))
                                    : QString::fromStdString(id.error());
            } else {
                collectionId = *id;
            }
            request.key = documentId > 0 ? services::StateKey::document(documentId)
                                         : services::StateKey::collection(collectionId);
            services::AskOptions options;
            options.cancel = flag.get();
            options.onText = [self, generation](size_t, std::string_view piece) {
                const QString t = QString::fromUtf8(piece.data(), qsizetype(piece.size()));
                post(self, [generation, t](AskPanel* p) { p->appendAnswer(generation, t); });
                return true;
            };
            options.onState = [self, generation](const services::StateResult& s) {
                const QString where = services::stateTierName(s.from);
                post(self, [generation, where](AskPanel* p) {
                    if (generation == p->generation_)
                        p->status_->setText(tr("State: %1. Generating…").arg(where));
                });
            };
            options.progress = [self, generation](int64_t done, int64_t total) {
                post(self, [generation, done, total](AskPanel* p) {
                    if (generation == p->generation_)
                        p->status_->setText(
                            tr("Reading the material once: %1 of %2 tokens…").arg(done).arg(total));
                });
            };
            if (outcome->error.isEmpty()) {
                auto answers = c->ask->ask(request, options);
                if (!answers)
                    outcome->error = QString::fromStdString(answers.error());
                else
                    outcome->answers = std::move(*answers);
            }
            if (outcome->error.isEmpty() && !outcome->answers.empty()) {
                store::AskRecord r =
                    askRecordOf(outcome->answers.front(), asOf, double(clock.nsecsElapsed()) / 1e9);
                r.collectionId = collectionId;
                r.documentId = documentId;
                r.modelId = c->cache->modelId();
                r.modelName = QFileInfo(c->modelPath).fileName().toStdString();
                r.askedAt = QDateTime::currentSecsSinceEpoch();
                auto saved = store::AskHistory(c->store->database()).add(r);
                if (saved)
                    r.id = *saved;
                else
                    outcome->saveError = QString::fromStdString(saved.error());
                outcome->record = std::move(r);
            }
        }
        post(self, [generation, outcome](AskPanel* p) { p->showOutcome(generation, outcome); });
    });
}

void AskPanel::showOutcome(int generation, const std::shared_ptr<Outcome>& outcome) {
    if (generation != generation_) return;
    cancel_.reset();
    setAsking(false);
    if (!outcome->error.isEmpty() || outcome->answers.empty()) {
        status_->setText(tr("The question could not be answered: %1")
                             .arg(outcome->error.isEmpty() ? tr("no answer") : outcome->error));
        emit finished(false);
        return;
    }
    const services::AskAnswer& a = outcome->answers.front();
    // The streamed text and the final answer agree; the final one is authoritative.
    showRecord(outcome->record);
    QString status =
        a.passages.empty() ? tr("Answered; no passage matched its words.") : tr("Answered.");
    if (outcome->record.id > 0)
        history_->prepend(outcome->record);
    else
        status += " " + tr("Not saved to the history: %1").arg(outcome->saveError);
    status_->setText(status);
    emit answered(a.timings.tokensPerSecond);
    emit finished(true);
}

void AskPanel::showPassages(const std::vector<store::AskPassageRef>& passages) {
    passages_->clear();
    for (const store::AskPassageRef& pa : passages) {
        auto* item = new QTreeWidgetItem(passages_);
        item->setText(0, QFileInfo(QString::fromStdString(pa.path)).fileName());
        item->setToolTip(0, QString::fromStdString(pa.path));
        item->setText(1, QString::fromStdString(pa.location));
        QString snippet = QString::fromStdString(pa.snippet).simplified();
        item->setText(2, snippet);
        item->setToolTip(2, snippet);
        item->setData(0, TargetDocument, QVariant::fromValue<qlonglong>(pa.documentId));
        item->setData(0, TargetPage, int(pa.page));
        item->setData(0, TargetLineStart, int(pa.lineStart));
        item->setData(0, TargetLineEnd, int(pa.lineEnd));
    }
    passages_->resizeColumnToContents(0);
    passages_->resizeColumnToContents(1);
}

// An answer, fresh or from the history: its text, passages and timings.
void AskPanel::showRecord(const store::AskRecord& r) {
    if (busy()) return;
    question_->setText(QString::fromStdString(r.question));
    answer_->setPlainText(QString::fromStdString(r.answer));
    showPassages(r.passages);
    QString when;
    if (r.id > 0 && r.askedAt > 0)
        when = QDateTime::fromSecsSinceEpoch(r.askedAt).toString("yyyy-MM-dd HH:mm") + " · ";
    QString model = r.modelName.empty() ? QString() : QString::fromStdString(r.modelName) + " · ";
    timings_->setText(
        when + model +
        tr("state %1 (%2 tokens)%3 · first token %4 ms · %5 tokens/s · %6 tokens (%7)")
            .arg(QString::fromStdString(r.stateOrigin))
            .arg(r.stateTokens)
            .arg(r.asOfPage > 0 ? tr(", as of page %1").arg(r.asOfPage) : QString())
            .arg(r.firstTokenSeconds * 1000.0, 0, 'f', 0)
            .arg(r.tokensPerSecond, 0, 'f', 1)
            .arg(r.answerTokens)
            .arg(QString::fromStdString(r.stopReason)));
}

}  // namespace lectern::ui
