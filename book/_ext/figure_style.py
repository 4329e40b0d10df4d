"""The book's figures, as the kernels that execute the chapters display them (run at kernel
start through the IPython profile that book/_ext/nncourse_book.py writes).

Figures are SVG with text kept as text (book/matplotlibrc: ``svg.fonttype: none``). Before a
figure is drawn for display, every text smaller than the book's minimum is enlarged to it; the
minimum grows with the figure's width, so that text is >= ~9.5 CSS px when the figure is shown
at the book's column width (~740 px) and >= ~4.7 px on a 390 px phone (legible at 2x zoom):
``MIN_PT = max(10, 0.0135 * width in pt)``. A chapter's own ``fontsize=8`` cannot make a
figure unreadable. Dense collections (filled contours, meshes, large scatters) and long curves are embedded as
150-dpi images inside the SVG, so that a figure stays small.
"""


DENSE = 3000  # a collection with more vertices than this is drawn as an image inside the SVG


def _install():
    from io import StringIO

    from IPython import get_ipython
    from matplotlib.collections import Collection
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.text import Text

    def _vertices(coll):
        paths = coll.get_paths()
        return sum(len(p.vertices) for p in paths) * max(1, len(coll.get_offsets()) // max(
            1, len(paths)))

    def min_pt(fig):
        return max(10.0, 0.0135 * fig.get_figwidth() * 72)

    def svg(fig):
        smallest = min_pt(fig)
        fig.canvas.draw()  # tick labels get their text (and their Text objects) when drawn
        for ax in fig.axes:
            for axis in (ax.xaxis, ax.yaxis):
                labels = axis.get_ticklabels(which="both")
                if labels and min(t.get_fontsize() for t in labels) < smallest:
                    axis.set_tick_params(which="both", labelsize=smallest)
        for text in fig.findobj(Text):
            if text.get_fontsize() < smallest:
                text.set_fontsize(smallest)
        for coll in fig.findobj(Collection):  # dense fills and clouds as pixels, text as text
            if _vertices(coll) > DENSE:
                coll.set_rasterized(True)
        for line in fig.findobj(Line2D):  # a marker is a path of its own in SVG
            marked = line.get_marker() not in (None, "None", "none", "", " ")
            if len(line.get_xdata()) > (DENSE // 10 if marked else DENSE):
                line.set_rasterized(True)
        buf = StringIO()
        fig.canvas.print_figure(buf, format="svg", bbox_inches="tight", dpi=150,
                                facecolor=fig.get_facecolor())
        return buf.getvalue()

    def install(*args):  # before every cell: `%matplotlib inline` resets the formatters
        formatters = shell.display_formatter.formatters
        formatters["image/svg+xml"].for_type(Figure, svg)
        formatters["image/png"].pop(Figure, None)

    shell = get_ipython()
    if shell is not None:
        from matplotlib import pyplot
        pyplot.close(pyplot.figure())  # the inline backend sets its formatters on first use
        install()
        shell.events.register("pre_run_cell", install)


_install()
del _install
