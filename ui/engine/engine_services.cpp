// EngineServices: the context is rebuilt on the engine thread when the model or the store
// changed since the last job.
#include "engine/engine_services.h"

#include <QtConcurrent>

namespace lectern::ui {
namespace {

QString openContext(ServicesContext& c, const ModelPtr& model, const QString& modelPath,
                    const QString& storeDir, int64_t residentBudget, int64_t hostBudget) {
    if (c.cache && c.model == model && c.storeDir == storeDir) return {};
    c.ask.reset();
    c.cache.reset();
    c.store.reset();
    c.model = model;
    c.modelPath = modelPath;
    c.storeDir = storeDir;
    if (!model) return QObject::tr("no model is loaded (Engine panel)");
    auto codec = services::TextCodec::forModel(modelPath.toStdString());
    if (!codec) return QString::fromStdString(codec.error());
    auto format = services::promptFormatLoad(modelPath.toStdString());
    if (!format) return QString::fromStdString(format.error());
    auto store = store::Store::open(storeDir.toStdString());
    if (!store) return QString::fromStdString(store.error());
    services::CacheOptions options;
    options.storeDir = storeDir.toStdString();
    options.residentBudgetBytes = residentBudget;
    options.hostBudgetBytes = hostBudget;
    auto cache = services::StateCache::open(*model, std::move(*codec), options);
    if (!cache) return QString::fromStdString(cache.error());
    c.store = std::move(*store);
    c.cache = std::move(*cache);
    c.ask = std::make_unique<services::AskService>(*c.cache, *c.store, std::move(*format));
    return {};
}

}  // namespace

EngineServices::EngineServices(QObject* parent) : QObject(parent) {
    pool_.setMaxThreadCount(1);
}

EngineServices::~EngineServices() {
    pool_.waitForDone();
}

void EngineServices::setStoreDir(const QString& storeDir) {
    storeDir_ = storeDir;
}

void EngineServices::setModel(ModelPtr model, const QString& modelPath) {
    model_ = std::move(model);
    modelPath_ = modelPath;
}

void EngineServices::setBudgets(int hostBudgetMiB, int gpuBudgetMiB) {
    hostBudget_ = int64_t(hostBudgetMiB) << 20;
    // Resident states live on the device for a CUDA model, in host memory otherwise; the
    // GPU budget bounds them either way.
    residentBudget_ = int64_t(qMax(64, gpuBudgetMiB)) << 20;
}

void EngineServices::run(std::function<void(ServicesContext*, const QString&)> work) {
    auto context = context_;
    const ModelPtr model = model_;
    const QString modelPath = modelPath_, storeDir = storeDir_;
    const int64_t resident = residentBudget_, host = hostBudget_;
    QThreadPool* pool = &pool_;
    // QtConcurrent on a single-thread pool: jobs run one after another, in order.
    (void)QtConcurrent::run(pool, [=] {
        const QString error = openContext(*context, model, modelPath, storeDir, resident, host);
        work(error.isEmpty() ? context.get() : nullptr, error);
    });
}

void EngineServices::waitForDone() {
    pool_.waitForDone();
}

}  // namespace lectern::ui
