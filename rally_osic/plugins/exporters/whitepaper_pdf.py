"""Rally exporter: the fault study as a PDF (WeasyPrint)."""

from rally.task import exporter


@exporter.configure("whitepaper-pdf")
class WhitepaperPDFExporter(exporter.TaskExporter):
    """The fault study as a PDF, printed from the same HTML by WeasyPrint.

    .. code-block:: console

      rally task export UUID --type whitepaper-pdf --to study.pdf

    Without ``--to`` the file is ``rally-osic-<task>.pdf`` in the current
    folder.
    """

    def generate(self):
        from rally_osic.report import exporting

        return exporting.export(
            self.tasks_results, self.output_destination, pdf=True
        )
