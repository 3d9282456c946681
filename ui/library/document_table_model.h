// The documents of one collection as a table: name, kind, status (in plain words, with the
// error), size, pages or sections. setDocuments() takes a worker's read and applies only
// the difference (inserted, removed and changed rows); the row's document id is under
// Qt::UserRole, and SortRole gives sizes and counts as numbers for the sorting proxy.
#pragma once

#include <QAbstractTableModel>
#include <vector>

#include "store/store.h"

namespace lectern::ui {

class DocumentTableModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { Name, Kind, Status, Size, Extent, Path, ColumnCount };
    static constexpr int DocumentIdRole = Qt::UserRole;
    static constexpr int SortRole = Qt::UserRole + 1;

    explicit DocumentTableModel(QObject* parent = nullptr);
    void setDocuments(std::vector<store::DocumentInfo> documents);
    const store::DocumentInfo* document(int row) const;
    int rowOfPath(const QString& path) const;  // -1 when absent

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

private:
    std::vector<store::DocumentInfo> documents_;
    std::vector<QString> names_;  // file names, computed once per row (sorting asks often)
};

QString formatBytes(int64_t bytes);

}  // namespace lectern::ui
