"Package data: the experiment report's template, copied from nbs/reports/ by adrl.report.sync_template."
