"""One module per `fabric` command group; each keeps heavy imports inside its commands so that
`fabric --help` stays fast."""
