// Settings: store folder, model folder, device, memory budgets for cached states.
#pragma once

#include <QDialog>

#include "app_settings.h"

class QComboBox;
class QLineEdit;
class QSpinBox;

namespace lectern::ui {

class SettingsDialog : public QDialog {
    Q_OBJECT
public:
    explicit SettingsDialog(const AppSettings& settings, QWidget* parent = nullptr);
    AppSettings settings() const;

private:
    AppSettings base_;
    QLineEdit *store_ = nullptr, *models_ = nullptr;
    QComboBox* device_ = nullptr;
    QSpinBox *host_ = nullptr, *gpu_ = nullptr;
};

}  // namespace lectern::ui
