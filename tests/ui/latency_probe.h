// Measures the GUI thread while long work runs elsewhere, two ways:
//  - wall latency: gaps between ticks of a 2 ms timer (what a user feels; on a loaded
//    machine it includes time the thread waited for a core);
//  - GUI-thread work: for each pass of the event loop (from the dispatcher's awake() to
//    its aboutToBlock()), the thread's own CPU time (CLOCK_THREAD_CPUTIME_ID), so a real
//    stall in our code shows even when other processes crowd the cores.
// Printed with the load average; tests never assert timings.
#pragma once

#include <QAbstractEventDispatcher>
#include <QElapsedTimer>
#include <QFile>
#include <QThread>
#include <QTimer>
#include <algorithm>
#include <ctime>
#include <vector>

namespace lectern::test {

class LatencyProbe {
public:
    LatencyProbe() {
        timer_.setInterval(2);
        QObject::connect(&timer_, &QTimer::timeout, [this] {
            const qint64 now = clock_.nsecsElapsed();
            gapsMs_.push_back(double(now - last_) / 1e6);
            last_ = now;
        });
        QAbstractEventDispatcher* d = QThread::currentThread()->eventDispatcher();
        awake_ = QObject::connect(d, &QAbstractEventDispatcher::awake,
                                  [this] { passStart_ = threadCpuNs(); });
        block_ = QObject::connect(d, &QAbstractEventDispatcher::aboutToBlock, [this] {
            if (passStart_ >= 0) workMs_.push_back(double(threadCpuNs() - passStart_) / 1e6);
            passStart_ = -1;
        });
        clock_.start();
        timer_.start();
    }
    ~LatencyProbe() { stop(); }

    void stop() {
        timer_.stop();
        QObject::disconnect(awake_);
        QObject::disconnect(block_);
    }
    size_t ticks() const { return gapsMs_.size(); }

    // "<what>: wall p50/p99/max …; GUI-thread work per pass p99/max …; load …"
    void print(const char* what) const {
        qInfo(
            "%s: %zu ticks, wall latency p50 %.1f ms, p99 %.1f ms, max %.1f ms; GUI-thread "
            "work per event-loop pass (thread CPU) p99 %.2f ms, max %.2f ms over %zu passes; "
            "load average %s",
            what, gapsMs_.size(), percentile(gapsMs_, 0.5), percentile(gapsMs_, 0.99),
            percentile(gapsMs_, 1.0), percentile(workMs_, 0.99), percentile(workMs_, 1.0),
            workMs_.size(), qPrintable(loadAverage()));
    }

private:
    static qint64 threadCpuNs() {
        timespec ts{};
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return qint64(ts.tv_sec) * 1000000000 + ts.tv_nsec;
    }
    static double percentile(std::vector<double> v, double p) {
        if (v.empty()) return 0;
        std::sort(v.begin(), v.end());
        return v[std::min(v.size() - 1, size_t(p * double(v.size())))];
    }
    static QString loadAverage() {
        QFile f("/proc/loadavg");
        if (!f.open(QIODevice::ReadOnly)) return "?";
        return QString::fromLatin1(f.readLine()).section(' ', 0, 2);
    }

    QTimer timer_;
    QElapsedTimer clock_;
    qint64 last_ = 0, passStart_ = -1;
    std::vector<double> gapsMs_, workMs_;
    QMetaObject::Connection awake_, block_;
};

}  // namespace lectern::test
