// Display rules of the library table; failures are shown in the row itself (red text,
// the error as tooltip), never in a pop-up.
#include "library/document_table_model.h"

#include <QBrush>
#include <QFileInfo>
#include <QGuiApplication>
#include <QPalette>

#include "library/library_reader.h"

namespace lectern::ui {

QString formatBytes(int64_t bytes) {
    if (bytes < 1024) return QStringLiteral("%1 B").arg(bytes);
    if (bytes < 1024 * 1024) return QStringLiteral("%1 KiB").arg(double(bytes) / 1024.0, 0, 'f', 1);
    if (bytes < int64_t(1) << 30)
        return QStringLiteral("%1 MiB").arg(double(bytes) / (1024.0 * 1024.0), 0, 'f', 1);
    return QStringLiteral("%1 GiB").arg(double(bytes) / double(int64_t(1) << 30), 0, 'f', 2);
}

DocumentTableModel::DocumentTableModel(QObject* parent) : QAbstractTableModel(parent) {}

void DocumentTableModel::setDocuments(std::vector<store::DocumentInfo> documents) {
    beginResetModel();
    documents_ = std::move(documents);
    endResetModel();
}

const store::DocumentInfo* DocumentTableModel::document(int row) const {
    if (row < 0 || row >= int(documents_.size())) return nullptr;
    return &documents_[size_t(row)];
}

int DocumentTableModel::rowOfPath(const QString& path) const {
    const std::string p = path.toStdString();
    for (size_t i = 0; i < documents_.size(); ++i)
        if (documents_[i].path == p) return int(i);
    return -1;
}

int DocumentTableModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : int(documents_.size());
}

int DocumentTableModel::columnCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : ColumnCount;
}

static QString extentText(const store::DocumentInfo& d) {
    if (d.pageCount > 0) return QStringLiteral("%1 pages").arg(d.pageCount);
    if (d.segmentCount > 0) return QStringLiteral("%1 sections").arg(d.segmentCount);
    return QStringLiteral("-");
}

QVariant DocumentTableModel::data(const QModelIndex& index, int role) const {
    const store::DocumentInfo* d = document(index.row());
    if (!d || index.column() < 0 || index.column() >= ColumnCount) return {};
    const bool failed = d->status != store::kStatusOk;
    if (role == DocumentIdRole) return QVariant::fromValue<qlonglong>(d->id);
    if (role == Qt::ForegroundRole && failed && d->status != store::kStatusPartial)
        return QBrush(Qt::red);
    if (role == Qt::ToolTipRole) {
        return failed ? describeStatus(*d) : QString::fromStdString(d->path);
    }
    if (role == Qt::TextAlignmentRole && (index.column() == Size || index.column() == Extent))
        return int(Qt::AlignRight | Qt::AlignVCenter);
    if (role != Qt::DisplayRole && role != Qt::AccessibleTextRole) return {};
    switch (index.column()) {
        case Name:
            return QFileInfo(QString::fromStdString(d->path)).fileName();
        case Kind:
            return QString::fromStdString(d->kind);
        case Status:
            return describeStatus(*d);
        case Size:
            return formatBytes(d->size);
        case Extent:
            return extentText(*d);
        case Path:
            return QString::fromStdString(d->path);
        default:
            return {};
    }
}

QVariant DocumentTableModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
    switch (section) {
        case Name:
            return tr("Name");
        case Kind:
            return tr("Kind");
        case Status:
            return tr("Status");
        case Size:
            return tr("Size");
        case Extent:
            return tr("Pages / sections");
        case Path:
            return tr("Path");
        default:
            return {};
    }
}

}  // namespace lectern::ui
