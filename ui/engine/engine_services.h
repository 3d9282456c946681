// The bridge from the GUI to app/services (state cache, ask, surprise): one context per
// (model, store) holding the state cache and the store connections, used from ONE worker
// thread (a private single-thread pool), so the cache is never entered from two threads
// and the GUI thread never waits on the engine. Panels post work with run(); callbacks
// that must reach widgets go through queued signals of the panels themselves.
#pragma once

#include <QObject>
#include <QThreadPool>
#include <functional>
#include <memory>

#include "engine/engine_panel.h"
#include "services/ask_service.h"
#include "services/state_cache.h"
#include "services/surprise_service.h"

namespace lectern::ui {

struct ServicesContext {
    ModelPtr model;
    QString modelPath, storeDir;
    std::unique_ptr<store::Store> store;  // passages and surprise tables
    std::unique_ptr<services::StateCache> cache;
    std::unique_ptr<services::AskService> ask;
};

class EngineServices : public QObject {
    Q_OBJECT
public:
    explicit EngineServices(QObject* parent = nullptr);
    ~EngineServices() override;

    void setStoreDir(const QString& storeDir);
    void setModel(ModelPtr model, const QString& modelPath);
    void setBudgets(int hostBudgetMiB, int gpuBudgetMiB);
    bool hasModel() const { return bool(model_); }
    QString modelPath() const { return modelPath_; }

    // Runs `work` on the engine thread with the context (opened on first use; an error
    // there is passed as a null context and the message).
    void run(std::function<void(ServicesContext* context, const QString& error)> work);
    // Blocks until queued work is done (shutdown and tests).
    void waitForDone();

private:
    QThreadPool pool_;
    ModelPtr model_;
    QString modelPath_, storeDir_;
    int64_t hostBudget_ = int64_t(1) << 30, residentBudget_ = int64_t(2) << 30;
    // Touched only on the engine thread.
    std::shared_ptr<ServicesContext> context_ = std::make_shared<ServicesContext>();
};

}  // namespace lectern::ui
