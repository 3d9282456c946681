// runAsync: runs `work` on the global thread pool and calls `done(result)` on `context`'s
// thread (the GUI thread) when it finishes, unless `context` was destroyed meanwhile. The
// one way panels do store reads and other short blocking work without blocking the GUI.
#pragma once

#include <QFutureWatcher>
#include <QObject>
#include <QtConcurrent>
#include <type_traits>
#include <utility>

namespace lectern::ui {

template <typename Work, typename Done>
void runAsync(QObject* context, Work work, Done done) {
    using Result = std::invoke_result_t<Work>;
    auto* watcher = new QFutureWatcher<Result>(context);
    QObject::connect(watcher, &QFutureWatcher<Result>::finished, context,
                     [watcher, done = std::move(done)]() mutable {
                         done(watcher->result());
                         watcher->deleteLater();
                     });
    watcher->setFuture(QtConcurrent::run(std::move(work)));
}

}  // namespace lectern::ui
