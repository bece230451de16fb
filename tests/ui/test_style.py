"""EHR style values are validated before they reach CSS."""
from app.ui.style import css_variables


def test_valid_style_values_mapped():
    out = css_variables({"color_background": "#edeae3", "color_text": "rgb(1, 2, 3)", "font_family_body": "Arial, sans-serif",
                         "dim_font_size": "14", "dim_border_radius": "3px"})
    assert out == {"--bg": "#edeae3", "--text": "rgb(1, 2, 3)", "--font-body": "Arial, sans-serif",
                   "--font-size": "14px", "--radius": "3px"}


def test_injection_attempts_dropped():
    out = css_variables({"color_background": "red;} body{display:none", "font_family_body": "x</style><script>",
                         "dim_spacing_size": "expression(alert(1))", "color_text": 5})
    assert out == {}
