"""One ComponentResource per concern of the deployment; `site.JitsiSite` ties them together."""
