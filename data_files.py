"""Reading samples from CSV and .npy files, every problem named in one line.

`read(path)` gives a file's samples, (n_samples, n_features) float64 (a
.npy file memory-mapped), and its header (the CSV's column names, or
None). Anything wrong with a file raises DataError, whose message names the
file, and the row and column where there is one:
`data.csv, row 3, column 2: 'x' is not a number`. It does not import
TensorFlow, so a script can check every file before loading it.
"""
import csv
import io
import math
import os

import numpy as np

import outputs


class DataError(Exception):
    """A data file is wrong; the message names it, on one line."""


def _fail(message):
    raise DataError(message)


def read(path):
    """(samples, header or None) of a .npy or CSV file, checked."""
    check_input(path)
    try:
        if path.lower().endswith(".npy"):
            return read_npy(path)
        return read_csv(path)
    except OSError as error:
        _fail(f"{path}: cannot read it ({error.strerror})")


def check_input(path):
    """Stop unless path is a regular file with something in it."""
    try:
        what = outputs.kind(path)
    except OSError as error:
        _fail(f"{path}: {error.strerror}")
    if what is None:
        _fail(f"{path}: no such file")
    if what != "a file":
        _fail(f"{path}: {what}, not a file")
    if os.path.getsize(path) == 0:
        _fail(f"{path}: the file is empty")


def read_csv(path):
    """(samples, header or None). Rows are the file's lines, from 1; a blank
    line is skipped, but a row of empty cells (only commas) is an error."""
    reader = csv.reader(io.StringIO(read_text(path), newline=""))
    try:
        rows = [(reader.line_num, row) for row in reader
                if "".join(row).strip() or len(row) > 1]
    except csv.Error as error:
        _fail(f"{path}, row {reader.line_num}: {error}")
    if not rows:
        _fail(f"{path}: the file is empty")
    # A header names the columns: no cell a number, not every cell empty.
    # It counts in the width every data row must have.
    first, width = rows[0][0], len(rows[0][1])
    header = None
    if "".join(rows[0][1]).strip() and not any(map(_is_number, rows[0][1])):
        header, rows = rows[0][1], rows[1:]
        if not rows:
            _fail(f"{path}: a header row but no data rows")
    samples = np.empty((len(rows), width))
    for index, (number, row) in enumerate(rows):
        if len(row) != width:
            _fail(f"{path}, row {number}: {len(row)} columns, but row "
                  f"{first} has {width}")
        for column, cell in enumerate(row, start=1):
            where = f"{path}, row {number}, column {column}"
            if not cell.strip():
                _fail(f"{where}: the cell is blank")
            if not _is_number(cell):
                _fail(f"{where}: {cell.strip()!r} is not a number")
            samples[index, column - 1] = value = float(cell)
            if not math.isfinite(value):
                _fail(f"{where}: {cell.strip()} is not a finite number")
    return samples, header


def read_text(path):
    """The file's text: UTF-8 with any byte-order mark dropped (it is
    neither data nor header); a binary file is refused."""
    with open(path, "rb") as file:
        data = file.read()
    nul = data.find(b"\0")
    if nul >= 0:
        _fail(f"{path}, row {_row_of(data, nul)}: a NUL byte; this is a "
              f"binary file, not a CSV")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        _fail(f"{path}, row {_row_of(data, error.start)}: byte "
              f"{data[error.start]:#04x} is not UTF-8 text; save the file "
              f"as UTF-8 CSV")


def _row_of(data, offset):
    return data.count(b"\n", 0, offset) + 1


def _is_number(cell):
    try:
        float(cell)
        return True
    except ValueError:
        return False


def read_npy(path):
    """(samples, None): the file's 2-D array of real numbers, memory-mapped."""
    try:
        samples = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, EOFError) as error:
        _fail(f"{path}: not a whole, readable .npy file "
              f"({outputs.reason(error)})")
    if not isinstance(samples, np.ndarray):
        _fail(f"{path}: a .npz archive of arrays, not one .npy array")
    if samples.ndim == 1:
        samples = samples[:, np.newaxis]    # one feature per row
    if samples.ndim != 2 or samples.size == 0:
        _fail(f"{path}: expected a non-empty 2-D array (rows x features); "
              f"got shape {samples.shape}")
    if samples.dtype.kind not in "iuf":     # not bool, complex, text, dates
        _fail(f"{path}: expected real numbers; got dtype {samples.dtype}")
    bad = ~np.isfinite(samples)
    if bad.any():
        row, column = np.argwhere(bad)[0]
        _fail(f"{path}, row {row} (from 0), column {column}: "
              f"{samples[row, column]} is not a finite number")
    return samples, None
