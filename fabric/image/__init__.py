"""Machine images: the firewall image (spec, build, cache), its seed, and the lean direct-boot initrd.

`spec` and `seed` are pure; `build` and `seeding` touch the world (mmdebstrap, chroot, mke2fs, mount).
"""
