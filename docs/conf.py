# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Sphinx configuration of the collection's documentation site (scripts/docs.sh builds it with
# antsibull-docs and sphinx-build -W). Started from `antsibull-docs sphinx-init`; no intersphinx: the
# build must work offline, and the two labels the generated pages use from Ansible's own docs are
# defined in rst/ansible_references.rst (links out), so every reference resolves.

project = "consolidation.xen"
copyright = "consolidation.xen contributors"
title = "consolidation.xen: a highly available Xen cluster with Ansible"
html_short_title = "consolidation.xen"

extensions = ["sphinx_antsibull_ext"]

pygments_style = "ansible"
highlight_language = "YAML+Jinja"

html_theme = "sphinx_ansible_theme"
html_show_sphinx = False
html_use_smartypants = True
html_use_modindex = False
html_use_index = False
html_copy_source = False
html_theme_options = {"display_version": False}

default_role = "any"
nitpicky = True
