"""Rally exporter: the fault study as one self-contained HTML file."""

from rally.task import exporter


@exporter.configure("whitepaper-html")
class WhitepaperHTMLExporter(exporter.TaskExporter):
    """The fault study as a self-contained HTML file.

    One annotated chart per fault run (baseline, fault injection, failed
    operations, degradation threshold, running mean, degradations,
    downtime), plain-language findings, SLA tables, and live-migration
    tables when the tasks contain them. Charts are inlined, so the file
    reads offline.

    .. code-block:: console

      rally task export UUID --type whitepaper-html --to study.html
    """

    def generate(self):
        from rally_osic.report import exporting

        return exporting.export(
            self.tasks_results, self.output_destination, pdf=False
        )
