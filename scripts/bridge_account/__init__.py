"""The videobridges' account on the signalling node: password, local bridge, internal room."""
