"""The paper's Tables 1-4 recomputed from the specs: the printed parameters and FLOPs beside the
counts of the graph, with every known discrepancy explained.

The paper's facts are data, shipped in this package and read through importlib.resources:

``paper_tables.csv``
    every row of Tables 1-4 of Ke, Maire & Yu (CVPR 2017) as printed: ``table``, ``method``,
    ``layers_per_section`` (Table 1's n), ``params_millions``, ``flops`` (in the table's unit; empty
    where the paper gives none) and the accuracy columns, each exactly as printed (the number of
    decimals is the printed precision). Two columns are ours: ``spec``, the file under specs/ that
    builds the row, and ``twin``, a second spec its note quotes (Table 3's 1-map nets).
``tables.csv``
    each table's title and the unit of its FLOPs (``M`` or ``G``).
``errata.json``
    notes on rows. An entry that ``explains`` a quantity (``params`` or ``macs``) accounts for our
    count not agreeing with the printed one; with ``printed_as`` the explanation is a claim that
    every run checks (the printed value is the count of the spec, or of the spec with other
    parameters or an edited family file, rounded or truncated). The file's ``about`` says more.

The paper never defines its "FLOPs"; the only reading that reproduces the printed rows is
multiply-accumulates of conv, transposed conv and linear layers, which is what the cost model calls
MACs. One rule decides agreement (`agrees`): our count, in the printed unit, rounds to the printed
value at the printed precision. The specs ship with the package too (package data ``mgdsl.specs``,
the repository's specs/ folder), so an installed mgdsl reproduces the tables without a checkout.
"""
from .compare import PaperTable, Row, find_specs, packaged_specs, reproduce
from .data import Erratum, PrintedAs, agrees, decimals_of, errata, paper_csv_text, paper_rows, table_infos
from .render import paper_tables, records, report

__all__ = ["Erratum", "PaperTable", "PrintedAs", "Row", "agrees", "decimals_of", "errata", "find_specs",
           "packaged_specs", "paper_csv_text", "paper_rows", "paper_tables", "records", "report", "reproduce",
           "table_infos"]
