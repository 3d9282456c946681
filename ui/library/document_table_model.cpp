// Display rules of the library table; failures are shown in the row itself (red text,
// the error as tooltip), never in a pop-up.
#include "library/document_table_model.h"

#include <QBrush>
#include <QFileInfo>
#include <QGuiApplication>
#include <QPalette>
#include <algorithm>

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

namespace {

bool sameRow(const store::DocumentInfo& a, const store::DocumentInfo& b) {
    return a.id == b.id && a.status == b.status && a.error == b.error && a.size == b.size &&
           a.mtimeNs == b.mtimeNs && a.hash == b.hash && a.kind == b.kind &&
           a.pageCount == b.pageCount && a.segmentCount == b.segmentCount;
}

bool byPath(const store::DocumentInfo& a, const store::DocumentInfo& b) {
    return a.path < b.path;
}

QString nameOf(const store::DocumentInfo& d) {
    return QFileInfo(QString::fromStdString(d.path)).fileName();
}

}  // namespace

// Both lists are in path order (the store lists them so), so one merge walk turns the old
// rows into the new with row inserts, removals and changes: views and the sorting proxy
// update only what moved, and an unchanged reload costs no relayout at all.
void DocumentTableModel::setDocuments(std::vector<store::DocumentInfo> documents) {
    if (documents_.empty() || documents.empty() ||
        !std::is_sorted(documents.begin(), documents.end(), byPath)) {
        beginResetModel();
        documents_ = std::move(documents);
        names_.clear();
        for (const store::DocumentInfo& d : documents_) names_.push_back(nameOf(d));
        endResetModel();
        return;
    }
    size_t row = 0, j = 0;
    const size_t n = documents.size();
    while (row < documents_.size() || j < n) {
        if (j == n || (row < documents_.size() && documents_[row].path < documents[j].path)) {
            size_t end = row + 1;  // a run of rows that are gone
            while (end < documents_.size() && (j == n || documents_[end].path < documents[j].path))
                ++end;
            beginRemoveRows({}, int(row), int(end - 1));
            documents_.erase(documents_.begin() + long(row), documents_.begin() + long(end));
            names_.erase(names_.begin() + long(row), names_.begin() + long(end));
            endRemoveRows();
        } else if (row == documents_.size() || documents[j].path < documents_[row].path) {
            size_t end = j + 1;  // a run of new documents
            while (end < n &&
                   (row == documents_.size() || documents[end].path < documents_[row].path))
                ++end;
            beginInsertRows({}, int(row), int(row + (end - j) - 1));
            for (size_t k = j; k < end; ++k)
                names_.insert(names_.begin() + long(row + k - j), nameOf(documents[k]));
            documents_.insert(documents_.begin() + long(row),
                              std::make_move_iterator(documents.begin() + long(j)),
                              std::make_move_iterator(documents.begin() + long(end)));
            endInsertRows();
            row += end - j;
            j = end;
        } else {
            if (!sameRow(documents_[row], documents[j])) {
                documents_[row] = std::move(documents[j]);
                emit dataChanged(index(int(row), 0), index(int(row), ColumnCount - 1));
            }
            ++row;
            ++j;
        }
    }
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
    if (d.pageCount > 0)
        return d.pageCount == 1 ? QStringLiteral("1 page")
                                : QStringLiteral("%1 pages").arg(d.pageCount);
    if (d.segmentCount > 0)
        return d.segmentCount == 1 ? QStringLiteral("1 section")
                                   : QStringLiteral("%1 sections").arg(d.segmentCount);
    return QStringLiteral("-");
}

QVariant DocumentTableModel::data(const QModelIndex& index, int role) const {
    const store::DocumentInfo* d = document(index.row());
    if (!d || index.column() < 0 || index.column() >= ColumnCount) return {};
    const bool failed = d->status != store::kStatusOk;
    if (role == DocumentIdRole) return QVariant::fromValue<qlonglong>(d->id);
    if (role == SortRole) {
        switch (index.column()) {
            case Size:
                return QVariant::fromValue<qlonglong>(d->size);
            case Extent:
                return QVariant::fromValue<qlonglong>(d->pageCount > 0 ? d->pageCount
                                                                       : d->segmentCount);
            default:
                return data(index, Qt::DisplayRole);
        }
    }
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
            return names_[size_t(index.row())];
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
