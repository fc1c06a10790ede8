"""Web pages of the detector app: ``submissions`` (submit, results, one-image reports),
``collections`` (collections, batch upload, collection reports) and ``files`` (private image
responses, also used by the review pages)."""
