// Measures the GUI thread while long work runs elsewhere, two ways:
//  - wall latency: gaps between ticks of a 2 ms timer (what a user feels; on a loaded
//    machine it includes time the thread waited for a core);
//  - GUI-thread work: the thread's own CPU time (CLOCK_THREAD_CPUTIME_ID) spent within
//    each of those gaps, so a real stall in our code (work on the GUI thread) shows even
//    when other processes crowd the cores and stretch the wall-clock gaps.
// Printed with the load average; tests never assert timings.
#pragma once

#include <QElapsedTimer>
#include <QFile>
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
            const qint64 now = clock_.nsecsElapsed(), cpu = threadCpuNs();
            gapsMs_.push_back(double(now - last_) / 1e6);
            workMs_.push_back(double(cpu - lastCpu_) / 1e6);
            last_ = now;
            lastCpu_ = cpu;
        });
        clock_.start();
        lastCpu_ = threadCpuNs();
        timer_.start();
    }

    void stop() { timer_.stop(); }
    size_t ticks() const { return gapsMs_.size(); }

    void print(const char* what) const {
        qInfo(
            "%s: %zu ticks; wall latency p50 %.1f ms, p99 %.1f ms, max %.1f ms; GUI-thread "
            "work (its CPU time within a gap) p50 %.2f ms, p99 %.2f ms, max %.2f ms; "
            "load average %s",
            what, gapsMs_.size(), percentile(gapsMs_, 0.5), percentile(gapsMs_, 0.99),
            percentile(gapsMs_, 1.0), percentile(workMs_, 0.5), percentile(workMs_, 0.99),
            percentile(workMs_, 1.0), qPrintable(loadAverage()));
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
    qint64 last_ = 0, lastCpu_ = 0;
    std::vector<double> gapsMs_, workMs_;
};

}  // namespace lectern::test
