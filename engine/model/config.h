// The model's configuration: the official MambaConfig fields of config.json, with the
// Mamba3 mixer defaults for keys ssm_cfg leaves out, checked for sane sizes before
// anything is allocated (RELIABILITY MOD-6), plus the sizes derived from them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lectern/status.h"
#include "ops/mamba3_dims.h"

namespace lectern::model {

struct Mamba3Config {  // ssm_cfg, defaults as Mamba3.__init__
    int dState = 128;
    int expand = 2;
    int headdim = 64;
    int ngroups = 1;
    double ropeFraction = 0.5;
    double dtMin = 0.001, dtMax = 0.1;
    double aFloor = 1e-4;
    bool isOutprojNorm = false;
    bool isMimo = false;
    int mimoRank = 4;
    bool fusePregateHeadwiseNorm = true;
    int chunkSize = 64;
};

struct ModelConfig {
    int dModel = 0;
    int dIntermediate = 0;
    int nLayer = 0;
    int vocabSize = 0;
    Mamba3Config ssm;
    std::vector<int> attnLayerIdx;
    bool rmsNorm = true;
    bool residualInFp32 = true;
    bool fusedAddNorm = true;
    int padVocabSizeMultiple = 8;
    bool tieEmbeddings = true;
    float normEps = 1e-5f;

    int dInner() const { return ssm.expand * dModel; }
    int nHeads() const { return dInner() / ssm.headdim; }
    int rank() const { return ssm.isMimo ? ssm.mimoRank : 1; }
    int numRopeAngles() const;  // ⌊N·rope_fraction⌋ rounded down to even, halved
    int vocabPadded() const;
    int mlpHidden() const;  // d_intermediate rounded up to 128; 0 without an MLP
    ops::Mamba3Dims dims() const;
    int64_t parameterCount() const;
    int64_t stateFloatsPerLayer() const;
};

// Parses config.json text; `name` is used in messages ("<name>: field 'd_model' ...").
Expected<ModelConfig> configParse(const std::string& text, const std::string& name);
Expected<ModelConfig> configLoad(const std::string& path);

}  // namespace lectern::model
