// SettingsDialog: a form; folder fields have a Browse button each.
#include "settings_dialog.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>

namespace lectern::ui {
namespace {

QWidget* folderRow(QWidget* parent, QLineEdit* edit, const QString& title) {
    auto* row = new QWidget(parent);
    auto* layout = new QHBoxLayout(row);
    layout->setContentsMargins(0, 0, 0, 0);
    auto* browse = new QPushButton(QObject::tr("Browse…"), row);
    browse->setAccessibleName(QObject::tr("Browse for %1").arg(title));
    layout->addWidget(edit, 1);
    layout->addWidget(browse);
    QObject::connect(browse, &QPushButton::clicked, row, [row, edit, title] {
        const QString dir = QFileDialog::getExistingDirectory(row, title, edit->text());
        if (!dir.isEmpty()) edit->setText(dir);
    });
    return row;
}

}  // namespace

SettingsDialog::SettingsDialog(const AppSettings& settings, QWidget* parent)
    : QDialog(parent), base_(settings) {
    setWindowTitle(tr("Settings"));
    store_ = new QLineEdit(settings.storeDir, this);
    store_->setAccessibleName(tr("Store folder"));
    models_ = new QLineEdit(settings.modelDir, this);
    models_->setAccessibleName(tr("Model folder"));
    device_ = new QComboBox(this);
    device_->setAccessibleName(tr("Device"));
    device_->addItem(tr("Automatic (GPU if usable)"), "auto");
    device_->addItem(tr("CPU"), "cpu");
    device_->addItem(tr("GPU (CUDA)"), "cuda");
    device_->setCurrentIndex(qMax(0, device_->findData(settings.device)));
    host_ = new QSpinBox(this);
    host_->setRange(64, 1 << 20);
    host_->setSuffix(tr(" MiB"));
    host_->setValue(settings.hostBudgetMiB);
    host_->setAccessibleName(tr("Host memory for cached states"));
    gpu_ = new QSpinBox(this);
    gpu_->setRange(0, 1 << 20);
    gpu_->setSuffix(tr(" MiB"));
    gpu_->setValue(settings.gpuBudgetMiB);
    gpu_->setAccessibleName(tr("GPU memory for cached states"));
    auto* form = new QFormLayout(this);
    form->addRow(tr("Store folder:"), folderRow(this, store_, tr("Store folder")));
    form->addRow(tr("Model folder:"), folderRow(this, models_, tr("Model folder")));
    form->addRow(tr("Device:"), device_);
    form->addRow(tr("Cached states, host memory:"), host_);
    form->addRow(tr("Cached states, GPU memory:"), gpu_);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    form->addRow(buttons);
    connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
}

AppSettings SettingsDialog::settings() const {
    AppSettings s = base_;
    s.storeDir = store_->text().trimmed();
    s.modelDir = models_->text().trimmed();
    s.device = device_->currentData().toString();
    s.hostBudgetMiB = host_->value();
    s.gpuBudgetMiB = gpu_->value();
    return s;
}

}  // namespace lectern::ui
