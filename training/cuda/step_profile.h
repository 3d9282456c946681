// Where a GPU training step's time goes (issue 5): with LECTERN_TRAIN_PROFILE=1 every
// phase of CudaTrainModel's step is bracketed by CUDA events on the step's stream, the
// elapsed times are summed per phase name (all layers together) whenever the step
// synchronizes anyway, and the table is printed to stderr when the model is destroyed.
// Off (the default) it records nothing and costs one branch a phase. Events, not host
// clocks: the step is asynchronous and only these see the device's own time.
#pragma once

#include <cuda_runtime.h>

#include <map>
#include <string>
#include <vector>

namespace lectern::train {

class StepProfile {
public:
    StepProfile();  // reads LECTERN_TRAIN_PROFILE
    ~StepProfile();
    StepProfile(const StepProfile&) = delete;
    StepProfile& operator=(const StepProfile&) = delete;

    bool on() const { return on_; }
    // Starts phase `name` (a string literal: kept by pointer) on stream s, ending the one
    // open before it; end() closes the open phase.
    void begin(const char* name, cudaStream_t s);
    void end(cudaStream_t s);
    // After the stream has synchronized: adds the recorded phases to the totals, or with
    // keep false drops them (validation forwards are not the step's).
    void collect(bool keep = true);
    // Counts one finished step (the first one's phases are not kept: warm-up).
    void countStep() { steps_ += on_ ? 1 : 0; }
    std::string table() const;

private:
    struct Mark {
        const char* name;
        cudaEvent_t start, stop;
    };
    cudaEvent_t event();
    bool on_ = false;
    const char* open_ = nullptr;
    cudaEvent_t openStart_ = nullptr;
    std::vector<Mark> marks_;
    std::vector<cudaEvent_t> pool_;
    std::map<std::string, std::pair<double, long>> totals_;  // ms, count
    long steps_ = 0;
};

}  // namespace lectern::train
